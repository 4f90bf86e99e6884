// strata-deploy: the deploy service alone, reading and writing a Kafka log.
#include "deploy/deploy_service.h"
#include "hosting/service_main.h"

int main(int argc, char** argv) {
  using namespace strata;
  return hosting::ServeOneModule<deploy::DeployModule, deploy::DeployModuleOptions>(
      argc, argv,
      {.name = "strata-deploy",
       .description = "environments, releases and deployments over a Kafka event log",
       .default_listen = "127.0.0.1:7304",
       .grpc_service = "strata.v1.DeployService",
       .module_name = "deploy"});
}
