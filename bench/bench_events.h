// Synthetic Strata events for benchmarks: check-out / check-in cycles.
#pragma once

#include <cstdint>

#include "fmt/format.h"
#include "strata/v1/events.pb.h"

namespace strata::bench {

// The i-th event of object o: seq i+1, alternating check-out and check-in.
// legacy: check-ins as written before Strata recorded their references
// (readers parse the definitions).
inline v1::Event MakeEvent(int64_t o, int64_t i, bool legacy = false) {
  v1::Event e;
  e.set_event_id(fmt::format("{}-{}", o, i));
  e.set_aggregate(fmt::format("object:table:bench.t{}", o));
  e.set_seq(i + 1);
  e.mutable_time()->set_seconds(1'800'000'000 + i);
  e.mutable_actor()->set_user(fmt::format("user{}", o % 50));
  e.mutable_actor()->set_site(o % 2 ? "boston" : "london");
  e.set_origin_site("bench");
  if (i % 2 == 0) {
    e.mutable_checked_out()->set_reason("benchmark");
  } else {
    auto* ci = e.mutable_checked_in();
    ci->set_version(i / 2 + 1);
    ci->set_definition(fmt::format(
        "CREATE TABLE bench.t{} (id bigint PRIMARY KEY, name text NOT NULL, v{} integer, created "
        "timestamptz DEFAULT now());", o, i));
    ci->set_message("benchmark change");
    ci->set_definition_sha256(std::string(64, 'a'));
    // What the lock service records at check-in (sql::DependencyKeys):
    // replays read it instead of parsing the definition.
    if (!legacy) ci->mutable_references()->add_keys("schema:bench");
  }
  return e;
}

}  // namespace strata::bench
