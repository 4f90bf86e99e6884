// The audit trail's record format and hash chain (docs/audit.md).
//
// Every record of the log becomes one audit record: who (from the event's
// actor), what (action, object), when, where (site), and what the log decided
// (accepted, lost, refused, malformed). Records are chained per partition, in
// offset order:
//   hash = SHA-256(bytes.fromhex(prev_hash) || canonical), prev_hash of the
//   first record of a partition = 64 zeros,
// where `canonical` is the record as JSON with sorted keys, no whitespace,
// non-ASCII as UTF-8 (what Python's json.dumps(r, sort_keys=True,
// separators=(",", ":"), ensure_ascii=False) produces).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "decide/decide.h"
#include "eventlog/event_log.h"
#include "strata/v1/events.pb.h"
#include "strata/internal/history_state.pb.h"
#include "strata/v1/history.pb.h"

namespace strata::history {

// RFC 3339 in UTC with nine fractional digits: 2026-11-24T09:30:00.000000001Z.
std::string FormatTime(const google::protobuf::Timestamp& t);

// The audit record of `event`, read at `position`, given what the accept rule
// decided for it.
v1::AuditRecord AuditRecordOf(const v1::Event& event, const eventlog::Position& position,
                              const decide::Decision& decision);

// The exact bytes the hash chain covers.
std::string CanonicalJson(const v1::AuditRecord& record);

// 64 hex zeros: the prev_hash of a partition's first record.
const std::string& GenesisHash();

// Hex SHA-256 over the raw bytes of `prev_hash_hex` followed by `canonical`.
std::string ChainHash(const std::string& prev_hash_hex, const std::string& canonical);

// The record with its canonical form and hashes.
v1::AuditEntry ChainEntry(v1::AuditRecord record, const std::string& prev_hash_hex);

// The same link in stored form, with raw 32-byte digests (the projection's
// fast path: no hex, no copy of the record).
internal::StoredAudit ChainLink(v1::AuditRecord record, std::string prev_digest);

// Lower-case hex of raw bytes, and back (for our own hex only).
std::string HexOfDigest(std::string_view digest);
std::string DigestOfHex(std::string_view hex);

// The stored form of an entry (strata.internal.StoredAudit): the record and
// the two digests in binary; the canonical bytes are recomputed on decoding.
std::string EncodeStoredAudit(const v1::AuditEntry& entry);
std::string EncodeStoredAudit(const internal::StoredAudit& stored);
// Fails (nullopt) on bytes that are not a stored entry.
std::optional<v1::AuditEntry> DecodeStoredAudit(std::string_view bytes);

}  // namespace strata::history
