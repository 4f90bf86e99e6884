// Fuzz target: records from the log as every reader decodes them. The input
// is a sequence of records (key, value); each value is parsed as a
// strata.v1.Event, checked against its key as the projections do, decided
// with the accept rule against the facts so far, rendered as JSON (as the
// CLI and consumers print events) and, for object aggregates, its id parsed.
// Nothing here may crash, hang or leak, whatever the bytes.
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "decide/decide.h"
#include "events/events.h"
#include "model/object_id.h"
#include "strata/v1/events.pb.h"

namespace {

// Splits the input into records: [key length: 1 byte][key][value length:
// 2 bytes, little endian][value], repeated; a short tail ends it.
bool NextRecord(std::string_view& in, std::string_view* key, std::string_view* value) {
  if (in.size() < 1) return false;
  const size_t key_len = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (in.size() < key_len + 2) return false;
  *key = in.substr(0, key_len);
  in.remove_prefix(key_len);
  const size_t value_len = static_cast<uint8_t>(in[0]) | (static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8);
  in.remove_prefix(2);
  *value = in.substr(0, std::min(value_len, in.size()));
  in.remove_prefix(value->size());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, decide::AggregateFacts> facts;
  std::string_view key, value;
  for (int records = 0; records < 64 && NextRecord(in, &key, &value); ++records) {
    v1::Event event;
    if (!event.ParseFromArray(value.data(), static_cast<int>(value.size()))) continue;
    (void)events::EventTypeName(event);
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(event, &json);
    if (event.aggregate().empty() || event.aggregate() != key) continue;
    (void)model::ObjectIdFromAggregate(event.aggregate());
    decide::AggregateFacts& f = facts[event.aggregate()];
    const decide::Decision d = decide::Decide(event, f);
    (void)decide::VerdictName(d.verdict);
    if (d.accepted()) {
      const uint64_t before = f.last_seq;
      decide::Advance(event, &f);
      if (f.last_seq != before + 1) __builtin_trap();  // the rule's own invariant
    }
  }
  return 0;
}
