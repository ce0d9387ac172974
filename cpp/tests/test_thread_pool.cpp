// The bounded pool: every task runs once, results do not depend on the thread count, many
// callers share the workers, exceptions reach the caller, failed starts degrade.
#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "calipers/parallel.hpp"
#include "calipers/thread_pool.hpp"
#include "check.hpp"

using calipers::ThreadPool;

TEST(pool_runs_every_task_once) {
    ThreadPool pool(4);
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i]++; });
    for (auto& h : hits) CHECK(h.load() == 1);
    CHECK(pool.started_workers() <= 3);
}

TEST(pool_many_callers_share_bounded_workers) {
    ThreadPool pool(3);
    std::atomic<long> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 16; ++c)
        callers.emplace_back([&] {
            for (int rep = 0; rep < 20; ++rep)
                pool.parallel_for(64, [&](std::size_t i) { total += static_cast<long>(i); });
        });
    for (auto& t : callers) t.join();
    CHECK(total.load() == 16L * 20L * (63L * 64L / 2L));
    CHECK(pool.started_workers() <= 2);
}

TEST(pool_nested_calls_do_not_deadlock) {
    ThreadPool pool(4);
    std::atomic<int> count{0};
    pool.parallel_for(8, [&](std::size_t) { pool.parallel_for(8, [&](std::size_t) { count++; }); });
    CHECK(count.load() == 64);
}

TEST(pool_rethrows_the_first_exception_after_all_tasks) {
    ThreadPool pool(4);
    std::atomic<int> ran{0};
    CHECK_THROWS(pool.parallel_for(100,
                                   [&](std::size_t i) {
                                       ran++;
                                       if (i % 7 == 3) throw std::invalid_argument("bad task");
                                   }),
                 std::invalid_argument);
    CHECK(ran.load() == 100);
}

TEST(pool_degrades_when_threads_cannot_start) {
    int started = 0;
    ThreadPool pool(8, false, [&](std::function<void()> body) {
        if (started >= 1) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
        ++started;
        return std::thread(std::move(body));
    });
    std::atomic<int> count{0};
    pool.parallel_for(50, [&](std::size_t) { count++; });
    CHECK(count.load() == 50);
    CHECK(pool.started_workers() == 1);
}

TEST(pool_resizes) {
    ThreadPool pool(4);
    pool.parallel_for(16, [](std::size_t) {});
    pool.set_num_threads(2);
    CHECK(pool.num_threads() == 2);
    CHECK(pool.started_workers() <= 1);
    std::atomic<int> count{0};
    pool.parallel_for(16, [&](std::size_t) { count++; });
    CHECK(count.load() == 16);
    pool.set_num_threads(1);
    CHECK(pool.started_workers() == 0);
}

TEST(blocked_reduce_is_independent_of_threads) {
    std::vector<double> x(200000);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 1.0 / static_cast<double>(i + 1);
    auto run = [&](unsigned threads) {
        calipers::set_num_threads(threads);
        return calipers::blocked_reduce<double>(
            x.size(),
            [&](std::size_t b, std::size_t e) {
                double s = 0;
                for (std::size_t i = b; i < e; ++i) s += x[i];
                return s;
            },
            [](double& a, const double& b) { a += b; });
    };
    const double one = run(1);
    CHECK(run(2) == one);
    CHECK(run(7) == one);
    calipers::set_num_threads(calipers::default_num_threads());
}
