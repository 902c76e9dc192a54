// The registry contract suite on ZooKeeperRegistry, against a real ZooKeeper server per test
// (label `integration`).

#include "tests/registry/registry_contract_test.h"

namespace roster::testing {

INSTANTIATE_TEST_SUITE_P(ZooKeeper, RegistryContractTest,
                         ::testing::Values(RegistryEnvFactory{"zookeeper", &NewZooKeeperTestEnv}),
                         RegistryEnvName);
INSTANTIATE_TEST_SUITE_P(ZooKeeper, RegistryAclContractTest,
                         ::testing::Values(RegistryEnvFactory{"zookeeper", &NewZooKeeperTestEnv}),
                         RegistryEnvName);

}  // namespace roster::testing
