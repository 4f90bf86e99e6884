// strata_events: writing strata.v1.Event records the way every service does.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "eventlog/event_log.h"
#include "strata/v1/events.pb.h"

namespace strata::events {

// A random UUID (version 4): the id commands wait on and integrators dedupe by.
std::string NewEventId();

// The payload's field name, e.g. "checked_in"; sent as the strata-event-type
// record header so consumers can route without decoding.
const char* EventTypeName(const v1::Event& event);

// Sets `ts` to the current time.
void SetNow(google::protobuf::Timestamp* ts);

// Appends `event` under its aggregate with the standard headers.
absl::StatusOr<eventlog::Position> Append(eventlog::EventLog& log, const v1::Event& event);

}  // namespace strata::events
