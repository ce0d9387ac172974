// One process-wide, bounded pool of worker threads for every parallel loop of the core.
//
// parallel_for(ntasks, task) runs task(0..ntasks-1) on the calling thread plus at most
// num_threads() - 1 pool workers and returns when every task has run. Any number of
// threads may call it at once (N server threads releasing the GIL): they share the same
// workers, so the process never holds more than num_threads() - 1 of them, whatever the
// number of callers. The caller always works on its own job, so a job finishes even when
// every worker is busy elsewhere, and nested calls (a task that calls parallel_for) cannot
// deadlock: a call from inside a worker runs inline.
//
// Workers start lazily; a failed start (std::system_error) leaves the pool with fewer
// workers instead of ending the process. An exception thrown by a task is rethrown to the
// caller once every task has run. After fork() the child starts with an empty pool (the
// parent's threads do not exist there) and starts workers again on demand.
//
// Results never depend on the number of threads: callers cut their work into fixed tasks
// and combine task results in task order (blocked_reduce in parallel.hpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define CALIPERS_HAVE_ATFORK 1
#endif

namespace calipers {

constexpr unsigned kMaxThreads = 256;

// min(hardware threads, 8), or CALIPERS_NUM_THREADS when it holds an integer in [1, 256].
inline unsigned default_num_threads() {
    if (const char* env = std::getenv("CALIPERS_NUM_THREADS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1 && v <= static_cast<long>(kMaxThreads)) return static_cast<unsigned>(v);
    }
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::min(hw, 8u);
}

class ThreadPool {
public:
    // Starts one worker thread running `body`; throws std::system_error when the system
    // refuses (tests inject failures through it).
    using Spawn = std::function<std::thread(std::function<void()>)>;

    static ThreadPool& instance() {
        // Never destroyed: workers blocked in wait() at process exit must not be joined
        // from a static destructor (the interpreter may already be gone).
        static ThreadPool* pool = new ThreadPool(default_num_threads(), true);
        return *pool;
    }

    // A private pool (tests); the process uses instance().
    explicit ThreadPool(unsigned threads, bool handle_fork = false, Spawn spawn = nullptr)
        : limit_(std::clamp(threads, 1u, kMaxThreads)), spawn_(std::move(spawn)) {
#ifdef CALIPERS_HAVE_ATFORK
        if (handle_fork) pthread_atfork(&ThreadPool::before_fork, &ThreadPool::after_fork_parent, &ThreadPool::after_fork_child);
#else
        (void)handle_fork;
#endif
    }

    ~ThreadPool() { set_num_threads(1); }  // joins the workers (private pools only: instance() lives on)

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Threads a parallel loop may use, the caller included.
    unsigned num_threads() const { return limit_.load(std::memory_order_relaxed); }

    // Workers currently started (at most num_threads() - 1).
    std::size_t started_workers() {
        std::lock_guard<std::mutex> lock(mutex_);
        return workers_.size();
    }

    // Bound the pool to n threads (the caller included); surplus workers exit and are joined.
    void set_num_threads(unsigned n) {
        n = std::clamp(n, 1u, kMaxThreads);
        std::lock_guard<std::mutex> resize(resize_mutex_);
        std::vector<std::unique_ptr<Worker>> surplus;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            limit_.store(n, std::memory_order_relaxed);
            while (workers_.size() > n - 1) {
                workers_.back()->stop = true;
                surplus.push_back(std::move(workers_.back()));
                workers_.pop_back();
            }
        }
        wake_.notify_all();
        for (auto& w : surplus)
            if (w->thread.joinable()) w->thread.join();
    }

    // Run task(i) for every i in [0, ntasks); at most max_threads threads (0: num_threads()).
    void parallel_for(std::size_t ntasks, const std::function<void(std::size_t)>& task, unsigned max_threads = 0) {
        if (ntasks == 0) return;
        unsigned threads = num_threads();
        if (max_threads) threads = std::min(threads, max_threads);
        if (ntasks == 1 || threads <= 1 || in_worker()) {
            for (std::size_t i = 0; i < ntasks; ++i) task(i);
            return;
        }
        auto job = std::make_shared<Job>();
        job->ntasks = ntasks;
        job->task = &task;
        job->max_helpers = static_cast<unsigned>(std::min<std::size_t>(threads - 1, ntasks - 1));
        ensure_workers(job->max_helpers);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            queue_.push_back(job);
        }
        wake_.notify_all();
        job->work();  // the caller claims tasks too, so the job finishes without any worker
        {
            std::lock_guard<std::mutex> lock(mutex_);
            queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
        }
        job->wait();
        if (job->error) std::rethrow_exception(job->error);
    }

private:
    struct Job {
        std::size_t ntasks = 0;
        const std::function<void(std::size_t)>* task = nullptr;
        unsigned max_helpers = 0;
        std::atomic<std::size_t> next{0};
        std::atomic<unsigned> helpers{0};
        std::size_t done = 0;  // guarded by m
        std::exception_ptr error;
        std::mutex m;
        std::condition_variable finished;

        bool has_work() const { return next.load(std::memory_order_relaxed) < ntasks; }

        void work() {
            std::size_t ran = 0;
            std::exception_ptr err;
            for (std::size_t i; (i = next.fetch_add(1)) < ntasks;) {
                try {
                    (*task)(i);
                } catch (...) {
                    if (!err) err = std::current_exception();
                }
                ++ran;
            }
            if (ran == 0 && !err) return;
            std::lock_guard<std::mutex> lock(m);
            if (err && !error) error = err;
            done += ran;
            if (done == ntasks) finished.notify_all();
        }

        void wait() {
            std::unique_lock<std::mutex> lock(m);
            finished.wait(lock, [&] { return done == ntasks; });
        }
    };

    struct Worker {
        std::thread thread;
        bool stop = false;  // guarded by the pool's mutex_
    };

    static bool& in_worker() {
        thread_local bool flag = false;
        return flag;
    }

    void ensure_workers(unsigned wanted) {
        std::lock_guard<std::mutex> lock(mutex_);
        wanted = std::min(wanted, limit_.load(std::memory_order_relaxed) - 1);
        while (workers_.size() < wanted) {
            auto w = std::make_unique<Worker>();
            Worker* self = w.get();
            try {
                std::function<void()> body = [this, self] { loop(self); };
                w->thread = spawn_ ? spawn_(std::move(body)) : std::thread(std::move(body));
            } catch (const std::system_error&) {
                return;  // the system refuses more threads: run with the workers we have
            }
            workers_.push_back(std::move(w));
        }
    }

    void loop(Worker* self) {
        in_worker() = true;
        std::unique_lock<std::mutex> lock(mutex_);
        while (true) {
            std::shared_ptr<Job> job;
            wake_.wait(lock, [&] {
                if (self->stop) return true;
                for (auto& j : queue_)
                    if (j->has_work() && j->helpers.load(std::memory_order_relaxed) < j->max_helpers) {
                        job = j;
                        return true;
                    }
                return false;
            });
            if (self->stop) return;
            if (job->helpers.fetch_add(1) >= job->max_helpers) continue;
            lock.unlock();
            job->work();
            job.reset();
            lock.lock();
        }
    }

#ifdef CALIPERS_HAVE_ATFORK
    static void before_fork() { instance().mutex_.lock(); }
    static void after_fork_parent() { instance().mutex_.unlock(); }
    static void after_fork_child() {
        ThreadPool& pool = instance();
        // The parent's workers do not exist in the child: forget them without joining.
        for (auto& w : pool.workers_) {
            new (&w->thread) std::thread();  // drop the dead handle (a joinable std::thread may not be destroyed)
        }
        pool.workers_.clear();
        pool.queue_.clear();
        pool.mutex_.unlock();
    }
#endif

    std::atomic<unsigned> limit_;
    Spawn spawn_;
    std::mutex mutex_;
    std::mutex resize_mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    std::vector<std::unique_ptr<Worker>> workers_;
};

// Shorthands for the core's loops.
inline void parallel_for(std::size_t ntasks, const std::function<void(std::size_t)>& task, unsigned max_threads = 0) {
    ThreadPool::instance().parallel_for(ntasks, task, max_threads);
}

inline unsigned num_threads() { return ThreadPool::instance().num_threads(); }

inline void set_num_threads(unsigned n) { ThreadPool::instance().set_num_threads(n); }

}  // namespace calipers
