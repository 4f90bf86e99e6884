// Recomputes the audit trail from the log and compares it with the stored one.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "eventlog/event_log.h"
#include "strata/v1/history.pb.h"

namespace rocksdb {
class DB;
}

namespace strata::history {

// Replays partition p of `log` from offset 0 up to (excluding) until[p],
// derives every audit record and its chain hash exactly as the projection
// does, and compares record, canonical bytes, prev_hash and hash with the
// entry stored in `db`, and the final hash with the stored chain head. The
// answer names the first record (lowest partition, then offset) that differs.
absl::StatusOr<v1::VerifyAuditResponse> VerifyAuditTrail(rocksdb::DB* db, eventlog::EventLog* log,
                                                         const std::vector<int64_t>& until,
                                                         absl::Duration timeout);

}  // namespace strata::history
