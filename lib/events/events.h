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

// A new event of `aggregate` at `seq`: a fresh id, the current time, the
// actor (`user` at `user_site`, from the caller's credential) and the site of
// the server that writes it. The caller sets the payload.
v1::Event NewEvent(std::string_view user, std::string_view user_site, std::string_view origin_site,
                   std::string_view aggregate, uint64_t seq);

// Writes the audit record of a refused command: `stamped` (a NewEvent at seq
// 0) with a command_refused payload naming `command`, `status`'s message and
// its code's name (e.g. PERMISSION_DENIED). Best effort: a failed append is
// logged, never returned, since the refusal itself is what the caller answers.
void AppendRefusal(eventlog::EventLog& log, v1::Event stamped, std::string_view command,
                   const absl::Status& status);

// Appends `event` under its aggregate with the standard headers. When it is
// written and `written` is given, *written is the record as the log holds
// it (position, key, value, headers): what a service hands to its own
// projection runner (ProjectionRunner::Appended) so that waiting for the
// event does not wait for the log to be read back.
absl::StatusOr<eventlog::Position> Append(eventlog::EventLog& log, const v1::Event& event,
                                          eventlog::Record* written = nullptr);

}  // namespace strata::events
