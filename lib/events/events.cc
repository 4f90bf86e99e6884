#include "events/events.h"

#include <random>

#include "absl/time/clock.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace strata::events {

std::string NewEventId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  // UUID version 4 layout.
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                     ((b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffffULL);
}

const char* EventTypeName(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kCheckedOut: return "checked_out";
    case v1::Event::kCheckedIn: return "checked_in";
    case v1::Event::kCheckOutUndone: return "check_out_undone";
    case v1::Event::kLockForceReleased: return "lock_force_released";
    case v1::Event::kCommandRefused: return "command_refused";
    case v1::Event::kBaselineCreated: return "baseline_created";
    case v1::Event::kEnvironmentRegistered: return "environment_registered";
    case v1::Event::kEnvironmentImported: return "environment_imported";
    case v1::Event::kReleaseCreated: return "release_created";
    case v1::Event::kReleaseApproved: return "release_approved";
    case v1::Event::kDeploymentStarted: return "deployment_started";
    case v1::Event::kDeploymentFinished: return "deployment_finished";
    default: return "unknown";
  }
}

void SetNow(google::protobuf::Timestamp* ts) {
  const absl::Time now = absl::Now();
  const int64_t seconds = absl::ToUnixSeconds(now);
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(seconds))));
}

v1::Event NewEvent(std::string_view user, std::string_view user_site, std::string_view origin_site,
                   std::string_view aggregate, uint64_t seq) {
  v1::Event e;
  e.set_event_id(NewEventId());
  e.set_aggregate(std::string(aggregate));
  e.set_seq(seq);
  SetNow(e.mutable_time());
  e.mutable_actor()->set_user(std::string(user));
  e.mutable_actor()->set_site(std::string(user_site));
  e.set_origin_site(std::string(origin_site));
  return e;
}

void AppendRefusal(eventlog::EventLog& log, v1::Event stamped, std::string_view command,
                   const absl::Status& status) {
  auto* r = stamped.mutable_command_refused();
  r->set_command(std::string(command));
  r->set_reason(std::string(status.message()));
  r->set_code(absl::StatusCodeToString(status.code()));
  if (auto pos = Append(log, stamped); !pos.ok())
    spdlog::warn("audit record of a refused {} by {} not written: {}", std::string(command),
                 stamped.actor().user(), pos.status().ToString());
}

absl::StatusOr<eventlog::Position> Append(eventlog::EventLog& log, const v1::Event& e, eventlog::Record* written) {
  std::vector<eventlog::Header> headers = {{"strata-event-type", EventTypeName(e)},
                                           {"strata-schema", "strata.v1.Event"}};
  std::string value = e.SerializeAsString();
  auto pos = log.Append(e.aggregate(), value, headers);
  if (pos.ok() && written) {
    written->partition = pos->partition;
    written->offset = pos->offset;
    written->key = e.aggregate();
    written->value = std::move(value);
    written->headers = std::move(headers);
  }
  return pos;
}

}  // namespace strata::events
