// RocksDB's info log through spdlog, for every RocksDB store Strata opens
// (the embedded log, the projections).
//
// Why: RocksDB writes its info log to a LOG file in the store's directory.
// When that disk fills up, a failed write to LOG makes the next log line
// abort the process (Debian's RocksDB 7.8 keeps its assertions:
// WritableFileWriter::AssertFalseAndGetStatusForPrevError), found by
// tests/resource_fault_test.cc. Through spdlog the info log needs no disk,
// and warnings reach the service's own log.
//
// Thread-safety: RocksDB calls Logv from its own threads; spdlog is safe for that.
#pragma once

#include <memory>

#include "rocksdb/env.h"

namespace strata::eventlog {

// Warnings and errors at spdlog's warn/error levels, the rest at debug.
std::shared_ptr<rocksdb::Logger> NewRocksDbLogger();

}  // namespace strata::eventlog
