// Fuzz target: reference data as users check it in (issue 22). The bytes are
// a CSV file read against a fixed table; what parses must survive the
// canonical form unchanged, and its diff with itself must be empty and with
// the empty set must give statements. Errors are fine; crashes, hangs,
// leaks and a canonical form that does not read back are not.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "refdata/rows.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::refdata;
  if (size > 256 * 1024) return 0;
  static const std::vector<Column> kColumns = {
      {"id", "integer"}, {"code", "text"}, {"rate", "numeric"}, {"ok", "boolean"}, {"day", "date"}, {"u", "uuid"}};
  const std::string_view csv(reinterpret_cast<const char*>(data), size);
  auto rows = ParseCsv(csv, kColumns, {"id", "code"});
  if (!rows.ok()) return 0;
  const std::string canonical = Canonical(*rows);
  auto again = ParseCsv(canonical, kColumns, {"id", "code"});
  if (!again.ok() || Canonical(*again) != canonical) std::abort();
  auto same = Diff(*rows, *again);
  if (!same.ok() || !same->empty()) std::abort();
  RowSet empty = *rows;
  empty.rows.clear();
  if (auto all = Diff(empty, *rows); all.ok()) (void)Statements(*all, *rows, "t");
  return 0;
}
