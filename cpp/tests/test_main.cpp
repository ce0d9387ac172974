// Runs every registered test; exit status 1 if any check failed.
#include <cstdio>

#include "check.hpp"

int main() {
    auto& r = calipers_tests::Registry::get();
    for (auto& [name, fn] : r.tests) {
        const int before = r.failures;
        fn();
        std::printf("%s %s\n", r.failures == before ? "ok  " : "FAIL", name.c_str());
    }
    std::printf("%zu tests, %d failed checks\n", r.tests.size(), r.failures);
    return r.failures ? 1 : 0;
}
