// Catalog models to bytes and back (catalog.h: EncodeCatalog,
// DecodeCatalog): varint lengths and numbers, every field in declaration
// order. A field added to the model must be added here too: the
// static_asserts below fail the build until it is (and kFormat goes up).
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "schemadiff/catalog.h"

namespace strata::schemadiff {
namespace {

// On x86-64 with libstdc++: the sizes of the structs as encoded below.
static_assert(sizeof(Object) == 1056, "a field was added to Object: encode it below and raise kFormat");
static_assert(sizeof(Column) == 192, "a field was added to Column: encode it below and raise kFormat");
static_assert(sizeof(Dependency) == 104, "a field was added to Dependency: encode it below and raise kFormat");
static_assert(sizeof(SequenceOptions) == 200, "a field was added to SequenceOptions: encode it below");
static_assert(sizeof(Catalog) == 96, "a field was added to Catalog: encode it below and raise kFormat");

constexpr uint64_t kMagic = 0x5354524341544c47;  // "STRCATLG"
constexpr uint64_t kFormat = 1;

class Writer {
 public:
  void U(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void I(int64_t v) { U(static_cast<uint64_t>(v)); }
  void S(const std::string& s) {
    U(s.size());
    out_.append(s);
  }
  void B(bool b) { U(b ? 1 : 0); }
  void Strings(const std::vector<std::string>& v) {
    U(v.size());
    for (const auto& s : v) S(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what Writer wrote; any shortfall sets `ok` false and yields zeros.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_ && pos_ == in_.size(); }
  uint64_t U() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return Fail();
      const auto byte = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    return Fail();
  }
  int64_t I() { return static_cast<int64_t>(U()); }
  std::string S() {
    const uint64_t n = U();
    if (n > in_.size() - pos_) return Fail(), std::string();
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool B() { return U() != 0; }
  // A count of items that take at least one byte each.
  uint64_t Count() {
    const uint64_t n = U();
    return n > in_.size() - pos_ ? Fail() : n;
  }
  std::vector<std::string> Strings() {
    std::vector<std::string> v(Count());
    for (auto& s : v) s = S();
    return v;
  }
  void Invalid() { Fail(); }

 private:
  uint64_t Fail() {
    ok_ = false;
    pos_ = in_.size();
    return 0;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void Put(Writer& w, const Column& c) {
  w.S(c.name);
  w.S(c.type);
  w.S(c.collation);
  w.B(c.not_null);
  w.S(c.default_expr);
  w.I(c.identity);
  w.S(c.identity_options);
  w.B(c.generated);
  w.I(c.statistics);
  w.B(c.local);
}

Column GetColumn(Reader& r) {
  Column c;
  c.name = r.S();
  c.type = r.S();
  c.collation = r.S();
  c.not_null = r.B();
  c.default_expr = r.S();
  c.identity = static_cast<char>(r.I());
  c.identity_options = r.S();
  c.generated = r.B();
  c.statistics = static_cast<int>(r.I());
  c.local = r.B();
  return c;
}

void Put(Writer& w, const Object& o) {
  w.U(static_cast<uint64_t>(o.kind));
  w.S(o.key);
  w.S(o.name);
  w.S(o.signature);
  w.Strings(o.create);
  w.S(o.drop);
  w.S(o.parent);
  w.U(o.deps.size());
  for (const auto& d : o.deps) {
    w.S(d.on);
    w.S(d.on_column);
    w.S(d.from_column);
    w.B(d.via_default);
    w.B(d.automatic);
  }
  w.Strings(o.claims);
  w.I(o.subkind);
  w.U(o.columns.size());
  for (const auto& c : o.columns) Put(w, c);
  w.Strings(o.labels);
  const SequenceOptions& q = o.sequence;
  for (const std::string* s : {&q.type, &q.start, &q.increment, &q.min, &q.max, &q.cache}) w.S(*s);
  w.B(q.cycle);
  w.S(o.persistence);
  w.S(o.options);
  w.S(o.partition_key);
  w.B(o.is_partition);
  w.S(o.partition_of);
  w.S(o.partition_bound);
  w.Strings(o.inherits);
  w.B(o.row_security);
  w.B(o.force_row_security);
  w.S(o.function_result);
  w.S(o.function_inputs);
  w.I(o.function_defaults);
  w.S(o.comment_on);
  w.S(o.comment_target);
  w.S(o.comment_text);
  w.S(o.base_type);
  w.S(o.default_expr);
  w.B(o.not_null);
  w.U(o.checks.size());
  for (const auto& [name, check] : o.checks) {
    w.S(name);
    w.S(check);
  }
  w.S(o.owned_by);
  w.S(o.owned_by_table);
  w.S(o.owned_by_column);
}

Object GetObject(Reader& r) {
  Object o;
  const uint64_t kind = r.U();
  if (kind > static_cast<uint64_t>(Kind::kComment)) r.Invalid();
  o.kind = static_cast<Kind>(kind);
  o.key = r.S();
  o.name = r.S();
  o.signature = r.S();
  o.create = r.Strings();
  o.drop = r.S();
  o.parent = r.S();
  o.deps.resize(r.Count());
  for (auto& d : o.deps) {
    d.on = r.S();
    d.on_column = r.S();
    d.from_column = r.S();
    d.via_default = r.B();
    d.automatic = r.B();
  }
  o.claims = r.Strings();
  o.subkind = static_cast<char>(r.I());
  o.columns.resize(r.Count());
  for (auto& c : o.columns) c = GetColumn(r);
  o.labels = r.Strings();
  SequenceOptions& q = o.sequence;
  for (std::string* s : {&q.type, &q.start, &q.increment, &q.min, &q.max, &q.cache}) *s = r.S();
  q.cycle = r.B();
  o.persistence = r.S();
  o.options = r.S();
  o.partition_key = r.S();
  o.is_partition = r.B();
  o.partition_of = r.S();
  o.partition_bound = r.S();
  o.inherits = r.Strings();
  o.row_security = r.B();
  o.force_row_security = r.B();
  o.function_result = r.S();
  o.function_inputs = r.S();
  o.function_defaults = static_cast<int>(r.I());
  o.comment_on = r.S();
  o.comment_target = r.S();
  o.comment_text = r.S();
  o.base_type = r.S();
  o.default_expr = r.S();
  o.not_null = r.B();
  o.checks.resize(r.Count());
  for (auto& [name, check] : o.checks) {
    name = r.S();
    check = r.S();
  }
  o.owned_by = r.S();
  o.owned_by_table = r.S();
  o.owned_by_column = r.S();
  return o;
}

}  // namespace

std::string EncodeCatalog(const Catalog& catalog) {
  Writer w;
  w.U(kMagic);
  w.U(kFormat);
  w.U(catalog.objects.size());
  for (const auto& [key, o] : catalog.objects) Put(w, o);
  w.U(catalog.casts.size());
  for (const auto& [from, to] : catalog.casts) {
    w.S(from);
    w.S(to);
  }
  return w.Take();
}

absl::StatusOr<Catalog> DecodeCatalog(std::string_view bytes) {
  Reader r(bytes);
  if (r.U() != kMagic || r.U() != kFormat) return absl::DataLossError("not a catalog of this format");
  Catalog c;
  for (uint64_t n = r.Count(); n > 0; --n) {
    Object o = GetObject(r);
    std::string key = o.key;
    c.objects.emplace(std::move(key), std::move(o));
  }
  for (uint64_t n = r.Count(); n > 0; --n) {
    std::string from = r.S();
    c.casts.emplace(std::move(from), r.S());
  }
  if (!r.ok()) return absl::DataLossError("a truncated or damaged catalog");
  return c;
}

}  // namespace strata::schemadiff
