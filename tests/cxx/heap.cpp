/* SPDX-License-Identifier: MIT */
/* heap.cpp: dog::heap, the owner: the options reach the heap, a refused heap throws with
 * errno in it, the destructor destroys, moves hand the heap over (and destroy what they
 * replace), release() gives it up, reset() empties it and keeps it, and the allocator and
 * resource it hands out are bound to it. */
#include <dogmalloc.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "cxx_test.h"

namespace {

using dog_test::live_heaps;
using dog_test::stats;

static_assert(!std::is_copy_constructible_v<dog::heap> && !std::is_copy_assignable_v<dog::heap>);
static_assert(std::is_nothrow_move_constructible_v<dog::heap>);
static_assert(std::is_nothrow_move_assignable_v<dog::heap>);

template <class T> using vec = std::vector<T, dog::heap_allocator<T>>;

void test_options()
{
    std::size_t before = live_heaps();
    {
        dog::heap h("named", 8 * DOG_HEAP_LIMIT_MIN);
        CHECK(h.get() != nullptr && live_heaps() == before + 1);
        CHECK(std::strcmp(dog_heap_name(h.get()), "named") == 0);
        CHECK(stats(h.get()).limit == 8 * DOG_HEAP_LIMIT_MIN);
        dog::heap plain;
        CHECK(std::strcmp(dog_heap_name(plain.get()), "heap") == 0);
        CHECK(stats(plain.get()).limit == 0 && live_heaps() == before + 2);
    }
    CHECK(live_heaps() == before);                        // both destroyed
}

int raise_limit(dog_heap_t *heap, std::size_t, void *arg)
{
    ++*static_cast<int *>(arg);
    return dog_heap_set_limit(heap, 0) == 0;              // no budget: try again
}

void test_options_handler()
{
    int calls = 0;
    dog_heap_options_t opts{};
    opts.name = "handled";
    opts.limit = 2 * DOG_HEAP_LIMIT_MIN;
    opts.on_limit = raise_limit;
    opts.on_limit_arg = &calls;
    dog::heap h(opts);
    vec<char> v(h.get());
    v.resize(4 * DOG_HEAP_LIMIT_MIN);                      // past the budget: the handler runs
    CHECK(calls == 1 && dog_heap_of(v.data()) == h.get());
    CHECK(stats(h.get()).limit == 0);
}

void test_refused_throws()
{
    std::size_t before = live_heaps();
    bool caught = false;
    try {
        dog::heap h("tiny", 1000);                         // below DOG_HEAP_LIMIT_MIN: EINVAL
    } catch (const std::system_error &e) {
        caught = e.code() == std::error_code(EINVAL, std::generic_category());
    }
    CHECK(caught);
    CHECK(live_heaps() == before);
}

void test_move()
{
    std::size_t before = live_heaps();
    dog::heap a("a");
    dog_heap_t *raw = a.get();
    vec<int> v(a.allocator<int>());
    v.assign(1000, 1);

    dog::heap b(std::move(a));                             // hand over: nothing destroyed
    CHECK(a.get() == nullptr && b.get() == raw);
    CHECK(live_heaps() == before + 1);
    v.resize(100000, 2);                                   // the container never noticed
    CHECK(dog_heap_of(v.data()) == raw && v[99999] == 2);

    dog::heap c("c");
    dog_heap_t *craw = c.get();
    CHECK(live_heaps() == before + 2);
    c = std::move(b);                                      // c's own heap is destroyed
    CHECK(live_heaps() == before + 1);
    CHECK(c.get() == raw && b.get() == nullptr && dog_heap_of(v.data()) == raw);
    CHECK(craw != raw);

    b = std::move(c);                                      // into a moved-from one
    CHECK(b.get() == raw && c.get() == nullptr && live_heaps() == before + 1);
    v = vec<int>();                                        // the block goes back to raw
    CHECK(stats(raw).blocks_in_use == 0);
    a.reset();                                             // empty objects: no-ops
    c = std::move(a);
    CHECK(live_heaps() == before + 1);
}

void test_release()
{
    std::size_t before = live_heaps();
    dog_heap_t *raw;
    {
        dog::heap h("released");
        raw = h.release();
        CHECK(h.get() == nullptr);
    }
    CHECK(live_heaps() == before + 1);                     // still alive: ours now
    CHECK(std::strcmp(dog_heap_name(raw), "released") == 0);
    dog_heap_destroy(raw);
    CHECK(live_heaps() == before);
}

void test_reset()
{
    dog::heap h("reset", 16 * DOG_HEAP_LIMIT_MIN);
    dog_heap_t *raw = h.get();
    dog::heap_allocator<long> a = h.allocator<long>();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++)
            (void)a.allocate(100);                         // left for reset() to free
        CHECK(stats(raw).blocks_in_use == 1000);
        h.reset();
        CHECK(h.get() == raw);                             // same heap, same options
        CHECK(stats(raw).blocks_in_use == 0 && stats(raw).bytes_in_use == 0);
        CHECK(stats(raw).limit == 16 * DOG_HEAP_LIMIT_MIN);
    }
}

void test_helpers_bound()
{
    dog::heap h("helpers");
    auto a = h.allocator<std::string>();
    CHECK(a.heap() == h.get());
    CHECK(a == dog::heap_allocator<int>(h.get()));
    auto res = h.resource();
    CHECK(res.heap() == h.get());
    void *p = res.allocate(100, 64);
    CHECK(dog_heap_of(p) == h.get());
    res.deallocate(p, 100, 64);
    CHECK(stats(h.get()).blocks_in_use == 0);
}

void test_destroy_drops_contents()
{
    // The arena use: build, never free, let the owner's destructor drop everything.
    std::size_t before = live_heaps();
    {
        dog::heap h("arena");
        alignas(vec<int>) unsigned char storage[sizeof(vec<int>)];
        auto *v = new (storage) vec<int>(h.get());          // never destroyed
        for (int i = 0; i < 50000; i++)
            v->push_back(i);
        CHECK(stats(h.get()).blocks_in_use == 1);
    }
    CHECK(live_heaps() == before);
}

void test_scoped_route()
{
    // new and dog_malloc land in the routed heap for the scope; nested scopes restore
    // the route that was set before them; frees go to each block's own heap.
    dog::heap outer("outer"), inner("inner");
    int *before = nullptr, *in_outer = nullptr, *in_inner = nullptr, *back = nullptr;
    void *raw = nullptr;
    before = static_cast<int *>(dog_malloc(sizeof(int)));
    {
        dog::scoped_route r1(outer);
        CHECK(dog_thread_heap() == outer.get());
        in_outer = static_cast<int *>(dog_malloc(sizeof(int)));
        {
            dog::scoped_route r2(inner.get());
            in_inner = static_cast<int *>(dog_malloc(sizeof(int)));
            raw = dog_calloc(4, 8);
        }
        CHECK(dog_thread_heap() == outer.get());
        back = static_cast<int *>(dog_malloc(sizeof(int)));
    }
    CHECK(dog_thread_heap() == nullptr);
    CHECK(dog_heap_of(before) == dog_default);
    CHECK(dog_heap_of(in_outer) == outer.get());
    CHECK(dog_heap_of(in_inner) == inner.get());
    CHECK(dog_heap_of(raw) == inner.get());
    CHECK(dog_heap_of(back) == outer.get());
    CHECK(stats(outer.get()).blocks_in_use == 2);
    CHECK(stats(inner.get()).blocks_in_use == 2);
    for (void *p : {static_cast<void *>(before), static_cast<void *>(in_outer),
                    static_cast<void *>(in_inner), raw, static_cast<void *>(back)})
        dog_free(p);
    CHECK(stats(outer.get()).blocks_in_use == 0 && stats(inner.get()).blocks_in_use == 0);
}

} // namespace

int main()
{
    return dog_test::run("heap", {
        {"options", test_options},
        {"options_handler", test_options_handler},
        {"refused_throws", test_refused_throws},
        {"move", test_move},
        {"release", test_release},
        {"reset", test_reset},
        {"helpers_bound", test_helpers_bound},
        {"destroy_drops_contents", test_destroy_drops_contents},
        {"scoped_route", test_scoped_route},
    });
}
