/* SPDX-License-Identifier: MIT */
/* resource.cpp: dog::memory_resource under std::pmr: pmr containers (nested ones too) live
 * in the resource's heap, every power-of-two alignment is honoured for every size, resources
 * compare equal exactly when they share a heap, a budget throws std::bad_alloc, and the size
 * given back is checked. */
#include <dogmalloc.hpp>

#if !DOG_HAS_MEMORY_RESOURCE
#error "the standard library has <memory_resource>: DOG_HAS_MEMORY_RESOURCE should be 1"
#endif

#include <cstdint>
#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include "cxx_test.h"

namespace {

using dog_test::aligned;
using dog_test::stats;

void test_pmr_vector_in_heap()
{
    dog::heap h("pmr");
    dog::memory_resource res(h.get());
    CHECK(res.heap() == h.get());
    {
        std::pmr::vector<int> v(&res);
        for (int i = 0; i < 100000; i++)
            v.push_back(i);
        CHECK(dog_heap_of(v.data()) == h.get());
        CHECK(stats(h.get()).blocks_in_use == 1);
        CHECK(stats(h.get()).bytes_in_use >= v.capacity() * sizeof(int));
        CHECK(v[99999] == 99999);
    }
    CHECK(stats(h.get()).bytes_in_use == 0);
    CHECK(stats(h.get()).allocs > 10);
}

void test_pmr_nested_in_heap()
{
    dog::heap h("nested");
    auto res = h.resource();
    {
        // uses-allocator construction: each string takes the map's resource.
        std::pmr::map<int, std::pmr::string> m(&res);
        for (int i = 0; i < 200; i++)
            m[i] = std::pmr::string(300, static_cast<char>('a' + i % 26));
        bool all_in = true;
        for (const auto &kv : m)
            all_in = all_in && dog_heap_of(kv.second.data()) == h.get() &&
                     dog_heap_contains(h.get(), &kv);
        CHECK(all_in);
        CHECK(stats(h.get()).blocks_in_use == 400);       // 200 nodes, 200 strings
    }
    CHECK(stats(h.get()).bytes_in_use == 0);
}

void test_alignments()
{
    dog::heap h("aligned");
    dog::memory_resource res(h.get());
    static const std::size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 24, 100, 1000, 5000, 70000};
    bool ok = true;
    for (std::size_t align = 1; align <= 8192; align *= 2) {
        for (std::size_t size : sizes) {
            void *p = res.allocate(size, align);
            bool good = aligned(p, align) && dog_heap_of(p) == h.get();
            if (!good)
                std::fprintf(stderr, "allocate(%zu, %zu) = %p\n", size, align, p);
            ok = ok && good;
            res.deallocate(p, size, align);
        }
    }
    CHECK(ok);
    CHECK(stats(h.get()).bytes_in_use == 0);
    std::pmr::vector<std::max_align_t> v(&res);           // 16-aligned, small blocks
    v.resize(1);
    CHECK(aligned(v.data(), alignof(std::max_align_t)));
}

void test_is_equal()
{
    dog::heap h1("one"), h2("two");
    dog::memory_resource a(h1.get()), b(h1.get()), c(h2.get()), d;
    CHECK(a.is_equal(a) && a == b && b == a);
    CHECK(!a.is_equal(c) && a != c);
    CHECK(d.heap() == dog_default && d != a);
    CHECK(!a.is_equal(*std::pmr::new_delete_resource()));
    CHECK(!std::pmr::new_delete_resource()->is_equal(a));
    std::pmr::vector<int> va(&a), vb(&b), vc(&c);
    CHECK(va.get_allocator() == vb.get_allocator());
    CHECK(va.get_allocator() != vc.get_allocator());
}

void test_budget_throws()
{
    const std::size_t limit = 4 * DOG_HEAP_LIMIT_MIN;
    dog::heap h("budget", limit);
    dog::memory_resource res(h.get());
    std::pmr::vector<std::uint64_t> v(&res);
    bool threw = false;
    try {
        for (std::size_t i = 0; i < limit; i++)
            v.push_back(i);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(v.size() > 1000 && v.size() < limit / 8);
    CHECK_THROWS(res.allocate(limit + 1, 64), std::bad_alloc);
}

void test_monotonic_upstream()
{
    dog::heap h("monotonic");
    dog::memory_resource res(h.get());
    std::pmr::monotonic_buffer_resource arena(4096, &res);
    {
        std::pmr::vector<std::pmr::string> words(&arena);
        for (int i = 0; i < 2000; i++)
            words.emplace_back(64, 'w');
        CHECK(stats(h.get()).blocks_in_use > 0);           // the arena's chunks
        CHECK(dog_heap_contains(h.get(), words.back().data()));
    }
    CHECK(stats(h.get()).blocks_in_use > 0);               // an arena frees only at release
    arena.release();
    CHECK(stats(h.get()).bytes_in_use == 0);
}

void test_deallocate_checks_size()
{
    dog::heap h("sized");
    dog::memory_resource res(h.get());
    CHECK(dog_test::aborts_with("dog_free_sized", [&] {
        void *p = res.allocate(32, 8);
        res.deallocate(p, 4096, 8);
    }));
    CHECK(dog_test::aborts_with("dog_free_sized", [&] {
        void *p = res.allocate(32, 256);
        res.deallocate(p, 100000, 256);
    }));
}

} // namespace

int main()
{
    return dog_test::run("resource", {
        {"pmr_vector_in_heap", test_pmr_vector_in_heap},
        {"pmr_nested_in_heap", test_pmr_nested_in_heap},
        {"alignments", test_alignments},
        {"is_equal", test_is_equal},
        {"budget_throws", test_budget_throws},
        {"monotonic_upstream", test_monotonic_upstream},
        {"deallocate_checks_size", test_deallocate_checks_size},
    });
}
