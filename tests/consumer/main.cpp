// Runs one task on an installed corio: prints "consumer ok 42".
#include <corio/corio.hpp>
#include <cstdio>

corio::task<int> answer() { co_return 42; }

int main() {
  auto rt = corio::runtime::create({.threads = 1});
  if (!rt) return 1;
  std::printf("consumer ok %d\n", rt->block_on(answer()));
  return 0;
}
