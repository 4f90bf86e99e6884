#include "eventlog/rocksdb_logger.h"

#include <cstdarg>
#include <cstdio>

#include "spdlog/spdlog.h"

namespace strata::eventlog {
namespace {

class SpdlogLogger : public rocksdb::Logger {
 public:
  SpdlogLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::DEBUG_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    const bool loud = level >= rocksdb::InfoLogLevel::WARN_LEVEL;
    if (!loud && !spdlog::should_log(spdlog::level::debug)) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      spdlog::error("rocksdb: {}", line);
    } else if (loud) {
      spdlog::warn("rocksdb: {}", line);
    } else {
      spdlog::debug("rocksdb: {}", line);
    }
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewRocksDbLogger() { return std::make_shared<SpdlogLogger>(); }

}  // namespace strata::eventlog
