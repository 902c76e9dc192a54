// The registry contract suite on MemoryRegistry.

#include "tests/registry/registry_contract_test.h"

namespace roster::testing {

INSTANTIATE_TEST_SUITE_P(Memory, RegistryContractTest,
                         ::testing::Values(RegistryEnvFactory{"memory", &NewMemoryTestEnv}),
                         RegistryEnvName);
INSTANTIATE_TEST_SUITE_P(Memory, RegistryAclContractTest,
                         ::testing::Values(RegistryEnvFactory{"memory", &NewMemoryTestEnv}),
                         RegistryEnvName);

}  // namespace roster::testing
