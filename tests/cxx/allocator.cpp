/* SPDX-License-Identifier: MIT */
/* allocator.cpp: dog::heap_allocator under the standard containers: their memory is in
 * the heap they were given and leaves it when they die, over-aligned types get their
 * alignment, a budget turns into std::bad_alloc, sizes are checked on the way back, and
 * assignment and swap move the heap with the memory. */
#include <dogmalloc.hpp>

#include <cstdint>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <scoped_allocator>
#include <string>
#include <type_traits>
#include <vector>

#include "cxx_test.h"

namespace {

using dog_test::aligned;
using dog_test::stats;

template <class T> using alloc = dog::heap_allocator<T>;
template <class T> using vec = std::vector<T, alloc<T>>;
using hstring = std::basic_string<char, std::char_traits<char>, alloc<char>>;

struct alignas(64) Line {
    unsigned char bytes[64];
};
struct alignas(4096) Page {
    unsigned char bytes[4096];
};

// Every allocator trait is what dogmalloc.hpp promises; these fail the build, not the run.
static_assert(std::allocator_traits<alloc<int>>::propagate_on_container_copy_assignment::value);
static_assert(std::allocator_traits<alloc<int>>::propagate_on_container_move_assignment::value);
static_assert(std::allocator_traits<alloc<int>>::propagate_on_container_swap::value);
static_assert(!std::allocator_traits<alloc<int>>::is_always_equal::value);
static_assert(std::is_same_v<std::allocator_traits<alloc<int>>::rebind_alloc<Line>, alloc<Line>>);
static_assert(std::is_nothrow_copy_constructible_v<alloc<int>>);

void test_vector_in_heap()
{
    dog::heap h("vector");
    {
        vec<int> v(h.get());
        for (int i = 0; i < 100000; i++)
            v.push_back(i);
        CHECK(dog_heap_of(v.data()) == h.get());
        CHECK(v.get_allocator().heap() == h.get());
        dog_heap_stats_t st = stats(h.get());
        CHECK(st.blocks_in_use == 1);                    // only the array, nothing else
        CHECK(st.bytes_in_use >= v.capacity() * sizeof(int));
        long long sum = 0;
        for (int x : v)
            sum += x;
        CHECK(sum == 100000LL * 99999 / 2);
    }
    dog_heap_stats_t st = stats(h.get());
    CHECK(st.bytes_in_use == 0);
    CHECK(st.blocks_in_use == 0);
    CHECK(st.allocs > 10 && st.allocs == st.frees);       // every regrowth came back
}

void test_map_nodes_in_heap()
{
    dog::heap h("map");
    {
        std::map<int, long, std::less<int>, alloc<std::pair<const int, long>>> m(
            h.allocator<std::pair<const int, long>>());
        for (int i = 0; i < 5000; i++)
            m[i * 7] = i;
        CHECK(stats(h.get()).blocks_in_use == m.size());  // one node each, in this heap
        bool all_in = true;
        for (const auto &kv : m)
            all_in = all_in && dog_heap_contains(h.get(), &kv);
        CHECK(all_in);
        CHECK(!dog_heap_contains(dog_default, &*m.begin()));
        m.erase(m.begin(), m.find(7 * 2500));
        CHECK(stats(h.get()).blocks_in_use == 2500);
    }
    CHECK(stats(h.get()).bytes_in_use == 0);
}

void test_string_in_heap()
{
    dog::heap h("strings");
    {
        hstring s(alloc<char>(h.get()));
        for (int i = 0; i < 1000; i++)
            s += "dogmalloc ";
        CHECK(s.size() == 10000);
        CHECK(dog_heap_of(s.data()) == h.get());
        // Nested containers: the scoped adaptor hands the vector's heap to each string.
        std::vector<hstring, std::scoped_allocator_adaptor<alloc<hstring>>> words(
            alloc<hstring>(h.get()));
        for (int i = 0; i < 100; i++)
            words.emplace_back(std::string(100, static_cast<char>('a' + i % 26)).c_str());
        bool all_in = true;
        for (const hstring &w : words)
            all_in = all_in && dog_heap_of(w.data()) == h.get() && w.size() == 100;
        CHECK(all_in);
        CHECK(dog_heap_of(words.data()) == h.get());
        CHECK(stats(h.get()).blocks_in_use == 102);       // s, the array, 100 strings
    }
    CHECK(stats(h.get()).bytes_in_use == 0);
}

template <class T> void check_overaligned(dog_heap_t *heap)
{
    alloc<T> a(heap);
    bool ok = true;
    for (std::size_t n = 1; n <= 40; n++) {              // every size class they land in
        T *p = a.allocate(n);
        ok = ok && aligned(p, alignof(T)) && dog_heap_of(p) == heap;
        p[n - 1].bytes[0] = 1;
        a.deallocate(p, n);
    }
    CHECK(ok);
    vec<T> v(heap);
    for (int i = 0; i < 100; i++) {
        v.emplace_back();
        ok = ok && aligned(v.data(), alignof(T));
    }
    CHECK(ok);
    std::list<T, alloc<T>> l(heap);                       // nodes: T after two pointers
    for (int i = 0; i < 50; i++)
        ok = ok && aligned(&l.emplace_back(), alignof(T));
    CHECK(ok);
}

void test_overaligned()
{
    dog::heap h("aligned");
    check_overaligned<Line>(h.get());
    check_overaligned<Page>(h.get());
    CHECK(stats(h.get()).bytes_in_use == 0);
}

void test_budget_throws()
{
    const std::size_t limit = 4 * DOG_HEAP_LIMIT_MIN;    // 2 MiB
    dog::heap h("budget", limit);
    vec<std::uint64_t> v(h.get());
    bool threw = false;
    try {
        for (std::uint64_t i = 0; i < limit; i++)        // 8 bytes each: too many
            v.push_back(i);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(v.size() > 1000 && v.size() < limit / 8);      // strong guarantee: v is intact
    CHECK(v.back() == v.size() - 1);
    CHECK(stats(h.get()).bytes_mapped <= limit);
    CHECK_THROWS(alloc<char>(h.get()).allocate(limit + 1), std::bad_alloc);
    std::vector<std::uint64_t> elsewhere(limit / 8);      // the rest of the program carries on
    CHECK(elsewhere.size() == limit / 8);
    v.clear();
    v.shrink_to_fit();
    CHECK(stats(h.get()).bytes_in_use == 0);
}

void test_size_overflow()
{
    dog::heap h("overflow");
    const std::size_t max = std::numeric_limits<std::size_t>::max();
    CHECK_THROWS(alloc<int>(h.get()).allocate(max / sizeof(int) + 1), std::bad_array_new_length);
    CHECK_THROWS(alloc<Line>(h.get()).allocate(max / 64 + 1), std::bad_array_new_length);
    CHECK_THROWS(alloc<Line>(h.get()).allocate(max / 64), std::bad_alloc);  // fits, too big
    CHECK(stats(h.get()).allocs == 0);
}

void test_equality()
{
    dog::heap h1("one"), h2("two");
    alloc<int> a1(h1.get()), b1(h1.get()), a2(h2.get());
    alloc<Line> l1(a1);                                   // converting: same heap
    CHECK(a1 == b1 && !(a1 != b1));
    CHECK(a1 != a2 && !(a1 == a2));
    CHECK(l1 == a1 && l1.heap() == h1.get());
    CHECK(alloc<int>() == alloc<Line>(dog_default));
    CHECK(alloc<int>().heap() == dog_default);
}

void test_propagation()
{
    dog::heap h1("one"), h2("two");
    {
        vec<int> a(h1.get()), b(h2.get());
        b.assign(1000, 2);
        a = b;                                            // copy: a takes b's heap
        CHECK(a.get_allocator().heap() == h2.get());
        CHECK(dog_heap_of(a.data()) == h2.get() && a.size() == 1000 && a[999] == 2);

        vec<int> c(h1.get());
        c.assign(500, 3);
        const int *block = c.data();
        a = std::move(c);                                 // move: the block itself moves
        CHECK(a.data() == block && a.get_allocator().heap() == h1.get());
        CHECK(stats(h2.get()).blocks_in_use == 1);        // a's old block went back to h2

        vec<int> d(h2.get());
        d.assign(10, 4);
        const int *db = d.data();
        a.swap(d);                                        // swap: heaps and blocks trade
        CHECK(a.data() == db && a.get_allocator().heap() == h2.get());
        CHECK(d.data() == block && d.get_allocator().heap() == h1.get());
    }
    CHECK(stats(h1.get()).bytes_in_use == 0 && stats(h2.get()).bytes_in_use == 0);
}

void test_deallocate_checks_size()
{
    dog::heap h("sized");
    alloc<std::uint64_t> a(h.get());
    // The size goes to dog_free_sized: one far too large is a misuse, and it aborts.
    CHECK(dog_test::aborts_with("dog_free_sized", [&] {
        std::uint64_t *p = a.allocate(4);
        a.deallocate(p, 4000);
    }));
    // The right size, n * sizeof(T) bytes, is accepted.
    std::uint64_t *p = a.allocate(250);
    CHECK(dog_usable_size(p) >= 2000 && dog_usable_size(p) < 4000);
    a.deallocate(p, 250);
    CHECK(stats(h.get()).blocks_in_use == 0);
}

} // namespace

int main()
{
    return dog_test::run("allocator", {
        {"vector_in_heap", test_vector_in_heap},
        {"map_nodes_in_heap", test_map_nodes_in_heap},
        {"string_in_heap", test_string_in_heap},
        {"overaligned", test_overaligned},
        {"budget_throws", test_budget_throws},
        {"size_overflow", test_size_overflow},
        {"equality", test_equality},
        {"propagation", test_propagation},
        {"deallocate_checks_size", test_deallocate_checks_size},
    });
}
