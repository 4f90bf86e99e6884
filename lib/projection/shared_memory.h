// strata_projection: one bound on the RocksDB memory of the projection
// stores of a process, instead of one per store.
//
// A strata-server hosts four projections, each in its own RocksDB. Each
// store on its own keeps a block cache and up to two memtables of 64 MB, so
// four stores may hold 4 x (64 + 128) MB; replaying a long log fills the
// memtables of all four at once. A SharedMemory gives them
//  * one block cache (block_cache_bytes), shared by every store; and
//  * one bound on their memtables together (a rocksdb::WriteBufferManager
//    of memtable_bytes): past it, the store being written flushes its
//    memtable, whichever store filled the rest.
// What a runner holds uncommitted stays bounded per runner
// (RunnerOptions::max_uncommitted_bytes): a shared bound there made replays
// commit more often, which cost far more time than it saved memory
// (docs/benchmarks.md, "Cold start").
//
// Thread-safety: immutable once built; RocksDB's cache and write-buffer
// manager are thread-safe. Ownership: shared (std::shared_ptr) by the
// stores that use it.
#pragma once

#include <cstddef>
#include <memory>

namespace rocksdb {
class Cache;
class WriteBufferManager;
}  // namespace rocksdb

namespace strata::projection {

struct SharedMemoryOptions {
  size_t block_cache_bytes = 64 << 20;
  size_t memtable_bytes = 64 << 20;
};

class SharedMemory {
 public:
  explicit SharedMemory(SharedMemoryOptions options);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  const std::shared_ptr<rocksdb::Cache>& block_cache() const { return block_cache_; }
  const std::shared_ptr<rocksdb::WriteBufferManager>& memtables() const { return memtables_; }

 private:
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> memtables_;
};

}  // namespace strata::projection
