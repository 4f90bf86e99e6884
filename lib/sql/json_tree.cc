#include "sql/json_tree.h"

#include <cstdlib>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace strata::sql {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Field of a message by JSON name (and by proto name), built once per type.
using FieldIndex = absl::flat_hash_map<std::string, const FieldDescriptor*>;

const FieldIndex& FieldsOf(const Descriptor* d) {
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);  // guards *shared; a leaf lock
  static auto* shared ABSL_PT_GUARDED_BY(mu) = new absl::flat_hash_map<const Descriptor*, const FieldIndex*>();
  thread_local absl::flat_hash_map<const Descriptor*, const FieldIndex*> local;
  if (auto it = local.find(d); it != local.end()) return *it->second;
  absl::MutexLock lock(&mu);
  const FieldIndex*& index = (*shared)[d];
  if (!index) {
    auto* fields = new FieldIndex();
    for (int i = 0; i < d->field_count(); ++i) {
      (*fields)[d->field(i)->json_name()] = d->field(i);
      (*fields)[d->field(i)->name()] = d->field(i);
    }
    index = fields;
  }
  local[d] = index;
  return *index;
}

void AppendUtf8(unsigned code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code >> 6)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (code >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

const FieldDescriptor* ArrayBoundsField() {
  static const FieldDescriptor* const kField = pg_query::TypeName::descriptor()->FindFieldByName("array_bounds");
  return kField;
}

class Reader {
 public:
  explicit Reader(std::string_view json)
      : begin_(json.data()), p_(json.data()), end_(json.data() + json.size()) {}

  bool Message(google::protobuf::Message* m) {
    Blank();
    if (!Eat('{')) return false;
    const FieldIndex& fields = FieldsOf(m->GetDescriptor());
    std::string key;
    for (;;) {
      Blank();
      if (Eat('}')) return true;
      if (Eat(',')) continue;
      if (!String(&key)) return false;
      Blank();
      if (!Eat(':')) return false;
      Blank();
      auto it = fields.find(key);
      if (it == fields.end()) {
        if (!Skip()) return false;
        continue;
      }
      const FieldDescriptor* f = it->second;
      if (!f->is_repeated()) {
        if (!Value(m, f, false)) return false;
        continue;
      }
      if (!Eat('[')) return false;
      for (;;) {
        Blank();
        if (Eat(']')) break;
        if (Eat(',')) continue;
        if (!Value(m, f, true)) return false;
      }
      // "type[]" has bound -1, which the JSON writes as an empty Integer.
      if (f == ArrayBoundsField())
        for (auto& bound : *static_cast<pg_query::TypeName*>(m)->mutable_array_bounds())
          if (bound.has_integer() && bound.integer().ival() == 0) bound.mutable_integer()->set_ival(-1);
    }
  }

 private:
  bool Eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void Blank() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) ++p_;
  }

  bool String(std::string* out) {
    size_t pos = static_cast<size_t>(p_ - begin_);
    if (!ReadJsonString(std::string_view(begin_, end_ - begin_), &pos, out)) return false;
    p_ = begin_ + pos;
    return true;
  }

  bool Number(int64_t* v) {
    const bool negative = Eat('-');
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return false;
    int64_t n = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') n = n * 10 + (*p_++ - '0');
    *v = negative ? -n : n;
    return true;
  }

  // Skips any value (fields this build does not know).
  bool Skip() {
    Blank();
    if (p_ >= end_) return false;
    if (*p_ == '"') {
      std::string s;
      return String(&s);
    }
    if (*p_ == '{' || *p_ == '[') {
      int depth = 0;
      do {
        if (*p_ == '"') {
          std::string s;
          if (!String(&s)) return false;
          continue;
        }
        if (*p_ == '{' || *p_ == '[') ++depth;
        if (*p_ == '}' || *p_ == ']') --depth;
        ++p_;
      } while (p_ < end_ && depth > 0);
      return depth == 0;
    }
    while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']') ++p_;
    return true;
  }

  bool Value(google::protobuf::Message* m, const FieldDescriptor* f, bool repeated) {
    const auto* r = m->GetReflection();
    Blank();
    int64_t n = 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Message(repeated ? r->AddMessage(m, f) : r->MutableMessage(m, f));
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string s;
        if (!String(&s)) return false;
        repeated ? r->AddString(m, f, std::move(s)) : r->SetString(m, f, std::move(s));
        return true;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (end_ - p_ >= 4 && std::string_view(p_, 4) == "true") {
          v = true;
          p_ += 4;
        } else if (end_ - p_ >= 5 && std::string_view(p_, 5) == "false") {
          v = false;
          p_ += 5;
        } else {
          return false;
        }
        repeated ? r->AddBool(m, f, v) : r->SetBool(m, f, v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        if (p_ < end_ && *p_ == '"') {
          std::string s;
          if (!String(&s)) return false;
          const auto* value = f->enum_type()->FindValueByName(s);
          if (!value) return false;
          n = value->number();
        } else if (!Number(&n)) {
          return false;
        }
        repeated ? r->AddEnumValue(m, f, static_cast<int>(n)) : r->SetEnumValue(m, f, static_cast<int>(n));
        return true;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        if (!Number(&n)) return false;
        repeated ? r->AddInt32(m, f, static_cast<int32_t>(n)) : r->SetInt32(m, f, static_cast<int32_t>(n));
        return true;
      case FieldDescriptor::CPPTYPE_UINT32:
        if (!Number(&n)) return false;
        repeated ? r->AddUInt32(m, f, static_cast<uint32_t>(n)) : r->SetUInt32(m, f, static_cast<uint32_t>(n));
        return true;
      case FieldDescriptor::CPPTYPE_INT64:
        if (!Number(&n)) return false;
        repeated ? r->AddInt64(m, f, n) : r->SetInt64(m, f, n);
        return true;
      case FieldDescriptor::CPPTYPE_UINT64:
        if (!Number(&n)) return false;
        repeated ? r->AddUInt64(m, f, static_cast<uint64_t>(n)) : r->SetUInt64(m, f, static_cast<uint64_t>(n));
        return true;
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        // Planner fields only; raw parse trees do not have them.
        char* after = nullptr;
        const double v = std::strtod(p_, &after);
        if (after == p_) return false;
        p_ = after;
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE)
          repeated ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v);
        else
          repeated ? r->AddFloat(m, f, static_cast<float>(v)) : r->SetFloat(m, f, static_cast<float>(v));
        return true;
      }
      default:
        return Skip();
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace

bool ReadJsonString(std::string_view json, size_t* pos, std::string* out) {
  size_t i = *pos;
  if (i >= json.size() || json[i] != '"') return false;
  const size_t start = ++i;
  while (i < json.size() && json[i] != '"' && json[i] != '\\') ++i;
  out->assign(json.substr(start, i - start));
  while (i < json.size() && json[i] != '"') {
    if (json[i] != '\\') {
      out->push_back(json[i++]);
      continue;
    }
    if (++i >= json.size()) return false;
    const char c = json[i++];
    switch (c) {
      case 'n': out->push_back('\n'); break;
      case 't': out->push_back('\t'); break;
      case 'r': out->push_back('\r'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'u': {
        unsigned code = 0;
        for (int k = 0; k < 4; ++k) {
          if (i >= json.size()) return false;
          const char h = json[i++];
          code = code * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        AppendUtf8(code, out);
        break;
      }
      default: out->push_back(c);
    }
  }
  if (i >= json.size()) return false;
  *pos = i + 1;
  return true;
}

bool DecodeJsonParseTree(std::string_view json, pg_query::ParseResult* out) {
  Reader reader(json);
  return reader.Message(out);
}

}  // namespace strata::sql
