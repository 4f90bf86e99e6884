// strata-history: the history service alone, reading and writing a Kafka log.
#include "history/history_service.h"
#include "hosting/service_main.h"

int main(int argc, char** argv) {
  using namespace strata;
  return hosting::ServeOneModule<history::HistoryModule, history::HistoryModuleOptions>(
      argc, argv,
      {.name = "strata-history",
       .description = "versions, audit trail and baselines over a Kafka event log",
       .default_listen = "127.0.0.1:7302",
       .grpc_service = "strata.v1.HistoryService",
       .module_name = "history"});
}
