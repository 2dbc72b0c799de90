/* SPDX-License-Identifier: MIT */
/* threads.cpp: one dog::heap shared by 8 std::threads (four per core on the 2-core CI
 * machine): each fills vectors and a map through dog::heap_allocator, hands half of its
 * vectors to the next thread, which checks and frees them while it allocates its own; at
 * the end every block is back, the heap's figures say so, and the heap is destroyed. */
#include <dogmalloc.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "cxx_test.h"

namespace {

using dog_test::stats;

constexpr int threads = 8;
constexpr int vectors = 300;       // per thread and round
constexpr int rounds = 20;

template <class T> using alloc = dog::heap_allocator<T>;
using vec = std::vector<std::uint64_t, alloc<std::uint64_t>>;
using map = std::map<std::uint64_t, std::uint64_t, std::less<std::uint64_t>,
                     alloc<std::pair<const std::uint64_t, std::uint64_t>>>;

// What thread `id` put in its vector `k` of round `r`, so that another thread can check it.
std::uint64_t value(int id, int r, int k, std::size_t i)
{
    return (std::uint64_t(id) << 48) ^ (std::uint64_t(r) << 40) ^ (std::uint64_t(k) << 20) ^ i;
}

struct mailbox {                  // one per thread: the vectors its successor frees
    std::vector<vec> handed[rounds];
};

std::atomic<int> wrong{0};
std::atomic<int> foreign{0};

void worker(dog_heap_t *heap, int id, mailbox *boxes, std::atomic<int> *ready)
{
    std::atomic<int> &my_ready = ready[id];
    std::atomic<int> &their_ready = ready[(id + threads - 1) % threads];
    mailbox &theirs = boxes[(id + threads - 1) % threads];
    for (int r = 0; r < rounds; r++) {
        std::vector<vec> mine;
        map m(heap);
        for (int k = 0; k < vectors; k++) {
            vec v(heap);
            std::size_t n = 1 + static_cast<std::size_t>((id * 131 + k * 17 + r) % 700);
            for (std::size_t i = 0; i < n; i++)
                v.push_back(value(id, r, k, i));
            if (dog_heap_of(v.data()) != heap)
                foreign++;
            m[value(id, r, k, 0)] = n;
            mine.push_back(std::move(v));
        }
        // Every other vector goes to the successor; the rest die here.
        for (int k = 1; k < vectors; k += 2)
            boxes[id].handed[r].push_back(std::move(mine[static_cast<std::size_t>(k)]));
        my_ready.store(r + 1, std::memory_order_release);
        for (const auto &kv : m)
            if (!dog_heap_contains(heap, &kv))
                foreign++;
        // Free the predecessor's vectors of this round, checking them first.
        while (their_ready.load(std::memory_order_acquire) < r + 1)
            std::this_thread::yield();
        int from = (id + threads - 1) % threads;
        int k = 1;
        for (vec &v : theirs.handed[r]) {
            for (std::size_t i = 0; i < v.size(); i++)
                if (v[i] != value(from, r, k, i))
                    wrong++;
            k += 2;
            vec().swap(v);                         // freed by a thread that did not allocate
        }
    }
}

void test_shared_heap()
{
    std::size_t before = dog_test::live_heaps();
    {
        dog::heap h("shared");
        auto boxes = std::make_unique<mailbox[]>(threads);
        std::atomic<int> ready[threads] = {};
        std::vector<std::thread> pool;
        for (int id = 0; id < threads; id++)
            pool.emplace_back(worker, h.get(), id, boxes.get(), ready);
        for (std::thread &t : pool)
            t.join();
        CHECK(wrong == 0);
        CHECK(foreign == 0);
        dog_heap_stats_t st = stats(h.get());
        CHECK(st.allocs > std::size_t(threads) * rounds * vectors);
        CHECK(st.bytes_in_use == 0 && st.blocks_in_use == 0);   // every block came back
        CHECK(st.allocs == st.frees);
        CHECK(dog_test::live_heaps() == before + 1);
    }
    CHECK(dog_test::live_heaps() == before);            // destroyed with its last owner
}

void test_destroy_full_heap()
{
    // The same threads, and the heap destroyed with everything still in it.
    std::size_t before = dog_test::live_heaps();
    dog::heap h("dropped");
    std::vector<std::thread> pool;
    std::atomic<std::size_t> held{0};
    for (int id = 0; id < threads; id++)
        pool.emplace_back([&, id] {
            alloc<std::uint64_t> a(h.get());
            for (int k = 0; k < 2000; k++) {
                std::uint64_t *p = a.allocate(static_cast<std::size_t>(1 + (id + k) % 64));
                p[0] = static_cast<std::uint64_t>(k);
                held++;
            }
        });
    for (std::thread &t : pool)
        t.join();
    CHECK(stats(h.get()).blocks_in_use == held.load());
    h = dog::heap();                                    // the old heap, full, is destroyed
    CHECK(dog_test::live_heaps() == before + 1);
    CHECK(stats(h.get()).blocks_in_use == 0);
}

} // namespace

int main()
{
    return dog_test::run("threads", {
        {"shared_heap", test_shared_heap},
        {"destroy_full_heap", test_destroy_full_heap},
    });
}
