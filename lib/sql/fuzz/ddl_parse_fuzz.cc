// Fuzz target: SQL text as users check it in. The bytes are a definition
// (or a dump) given to the parser, the definition analysis that names the
// object and its references, the dump analysis, validation and the
// fingerprint. Errors are fine; crashes, hangs and leaks are not.
#include <cstdint>
#include <string_view>

#include "model/object_id.h"
#include "sql/analyze.h"
#include "sql/fingerprint.h"
#include "sql/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata;
  if (size > 64 * 1024) return 0;  // definitions are small; keeps each run fast
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  (void)sql::ValidateSql(sql);
  (void)sql::Fingerprint(sql);
  (void)sql::NormalizeSql(sql);
  if (auto info = sql::AnalyzeDefinition(sql); info.ok()) {
    // A definition that names an object must also pass as its own definition.
    (void)sql::CheckDefines(sql, info->id);
  }
  (void)sql::AnalyzeDump(sql);
  return 0;
}
