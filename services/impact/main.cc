// strata-impact: the impact service alone, reading a Kafka event log.
#include "hosting/service_main.h"
#include "impact/impact_service.h"

int main(int argc, char** argv) {
  using namespace strata;
  return hosting::ServeOneModule<impact::ImpactModule, impact::ImpactModuleOptions>(
      argc, argv,
      {.name = "strata-impact",
       .description = "dependency graph, impact of changes and risk rules over a Kafka event log",
       .default_listen = "127.0.0.1:7303",
       .grpc_service = "strata.v1.ImpactService",
       .module_name = "impact"});
}
