#include "projection/shared_memory.h"

#include "rocksdb/cache.h"
#include "rocksdb/write_buffer_manager.h"

namespace strata::projection {

SharedMemory::SharedMemory(SharedMemoryOptions options)
    : block_cache_(rocksdb::NewLRUCache(options.block_cache_bytes)),
      // Not charged to the block cache, and without stalls: past the bound
      // the store being written flushes its memtable.
      memtables_(std::make_shared<rocksdb::WriteBufferManager>(options.memtable_bytes)) {}

SharedMemory::~SharedMemory() = default;

}  // namespace strata::projection
