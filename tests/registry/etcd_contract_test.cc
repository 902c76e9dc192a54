// The registry contract suite on EtcdRegistry, against a real etcd server per test (label
// `integration`).

#include "tests/registry/registry_contract_test.h"

namespace roster::testing {

INSTANTIATE_TEST_SUITE_P(Etcd, RegistryContractTest,
                         ::testing::Values(RegistryEnvFactory{"etcd", &NewEtcdTestEnv}),
                         RegistryEnvName);

}  // namespace roster::testing
