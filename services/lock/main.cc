// strata-lock: the lock service alone, reading and writing a Kafka log.
#include "hosting/service_main.h"
#include "lock/lock_service.h"

int main(int argc, char** argv) {
  using namespace strata;
  return hosting::ServeOneModule<lock::LockModule, lock::LockModuleOptions>(
      argc, argv,
      {.name = "strata-lock",
       .description = "check-out/check-in of database objects over a Kafka event log",
       .default_listen = "127.0.0.1:7301",
       .grpc_service = "strata.v1.LockService",
       .module_name = "lock"});
}
