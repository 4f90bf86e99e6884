#include "eventlog/event_log.h"

namespace strata::eventlog {

// murmur2 with the seed and constants of Apache Kafka's Utils.murmur2, so that
// Strata places records where any Kafka client's default partitioner would.
uint32_t KafkaMurmur2(std::string_view data) {
  const uint32_t seed = 0x9747b28c;
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t length = data.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    uint32_t k = uint32_t(bytes[i]) | uint32_t(bytes[i + 1]) << 8 |
                 uint32_t(bytes[i + 2]) << 16 | uint32_t(bytes[i + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3: h ^= uint32_t(bytes[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= uint32_t(bytes[i + 1]) << 8; [[fallthrough]];
    case 1: h ^= uint32_t(bytes[i]); h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

int32_t KeyPartition(std::string_view key, int32_t partitions) {
  if (partitions <= 1) return 0;
  return static_cast<int32_t>((KafkaMurmur2(key) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

}  // namespace strata::eventlog
