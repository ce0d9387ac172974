// A minimal test harness (no downloads at build time): TEST(name) registers a function,
// CHECK(cond) records a failure with its line, CHECK_THROWS(expr, Exception) expects one.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace calipers_tests {

struct Registry {
    std::vector<std::pair<std::string, std::function<void()>>> tests;
    int failures = 0;
    static Registry& get() {
        static Registry r;
        return r;
    }
};

struct Register {
    Register(const char* name, std::function<void()> fn) { Registry::get().tests.emplace_back(name, std::move(fn)); }
};

inline void fail(const char* file, int line, const std::string& what) {
    std::fprintf(stderr, "%s:%d: FAILED %s\n", file, line, what.c_str());
    ++Registry::get().failures;
}

}  // namespace calipers_tests

#define CALIPERS_CAT2(a, b) a##b
#define CALIPERS_CAT(a, b) CALIPERS_CAT2(a, b)
#define TEST(name)                                                                                  \
    static void name();                                                                             \
    static calipers_tests::Register CALIPERS_CAT(register_, name)(#name, name);                   \
    static void name()
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) calipers_tests::fail(__FILE__, __LINE__, #cond);        \
    } while (0)
#define CHECK_THROWS(expr, Exception)                                                          \
    do {                                                                                       \
        bool thrown_ = false;                                                                  \
        try {                                                                                  \
            (void)(expr);                                                                      \
        } catch (const Exception&) {                                                           \
            thrown_ = true;                                                                    \
        }                                                                                      \
        if (!thrown_) calipers_tests::fail(__FILE__, __LINE__, "no " #Exception " from " #expr); \
    } while (0)
