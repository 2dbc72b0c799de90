/* SPDX-License-Identifier: MIT */
/* new_delete.cpp: dogmalloc-new-delete.h, included here and only here: every form of
 * operator new hands out a block of dog_default (aligned as asked), every form of delete
 * gives it back (the sized ones with their size, which dogmalloc checks), the standard
 * library's allocations follow, a request that cannot be met throws std::bad_alloc or
 * returns nullptr, and the new-handler is called in a loop as the standard requires.
 * No LD_PRELOAD: malloc stays the C library's. */
#include <dogmalloc-new-delete.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cxx_test.h"

namespace {

using dog_test::aligned;

struct alignas(64) Line {
    unsigned char bytes[64];
};
struct alignas(4096) Page {
    unsigned char bytes[100];
};
struct Counted {                      // non-trivial destructor: new[] keeps a count
    long v = 1;
    ~Counted() { v = 0; }
};

const std::size_t sizes[] = {0, 1, 8, 24, 100, 4096, 100000};
constexpr std::size_t huge = std::size_t(1) << 62;          // mmap refuses it: ENOMEM
constexpr std::size_t too_big = std::size_t(PTRDIFF_MAX) + 1; // refused before mmap

// A pointer from a direct ::operator new call that is otherwise unused: stored where the
// compiler must keep it, or GCC may drop the call (as it did under -fsanitize=thread).
void *volatile sink;
void *kept(void *p)
{
    sink = p;
    return p;
}

bool is_dog(const void *p)
{
    return p != nullptr && dog_heap_of(p) == dog_default;
}

// Freed: no longer a live block of dog_default (a thread cache parks it, not in use).
bool freed(const void *p)
{
    return !dog_heap_contains(dog_default, p);
}

void test_new_expressions()
{
    int *one = new int(7);
    int *many = new int[1000];
    Counted *counted = new Counted[10];
    Line *line = new Line;
    Line *lines = new Line[7];
    Page *page = new Page;
    int *nt = new (std::nothrow) int(3);
    Line *ntl = new (std::nothrow) Line[3];
    CHECK(is_dog(one) && is_dog(many) && is_dog(line) && is_dog(page) && is_dog(nt));
    CHECK(dog_heap_contains(dog_default, counted));         // after new[]'s count
    CHECK(is_dog(lines) && is_dog(ntl));
    CHECK(aligned(line, 64) && aligned(lines, 64) && aligned(page, 4096) && aligned(ntl, 64));
    delete one;
    delete[] many;
    delete[] counted;
    delete line;
    delete[] lines;
    delete page;
    delete nt;
    delete[] ntl;
    CHECK(freed(one) && freed(many) && freed(line) && freed(lines) && freed(page));
    CHECK(freed(nt) && freed(ntl) && !dog_heap_contains(dog_default, counted));
}

void test_every_form()
{
    bool ok = true;
    for (std::size_t n : sizes) {
        const std::align_val_t al{128};
        void *p[8] = {
            ::operator new(n), ::operator new[](n),
            ::operator new(n, std::nothrow), ::operator new[](n, std::nothrow),
            ::operator new(n, al), ::operator new[](n, al),
            ::operator new(n, al, std::nothrow), ::operator new[](n, al, std::nothrow),
        };
        for (int i = 0; i < 8; i++)
            ok = ok && is_dog(p[i]) && (i < 4 || aligned(p[i], 128));
        ::operator delete(p[0]);
        ::operator delete[](p[1], n);
        ::operator delete(p[2], std::nothrow);
        ::operator delete[](p[3], std::nothrow);
        ::operator delete(p[4], n, al);
        ::operator delete[](p[5], al);
        ::operator delete(p[6], al, std::nothrow);
        ::operator delete[](p[7], al, std::nothrow);
        for (int i = 0; i < 8; i++)
            ok = ok && freed(p[i]);
        // The four forms not used above: sized plain, array plain, aligned plain, sized array.
        void *q[4] = {::operator new(n), ::operator new[](n), ::operator new(n, al),
                      ::operator new[](n, al)};
        ::operator delete(q[0], n);
        ::operator delete[](q[1]);
        ::operator delete(q[2], al);
        ::operator delete[](q[3], n, al);
        for (int i = 0; i < 4; i++)
            ok = ok && freed(q[i]);
        if (!ok)
            std::fprintf(stderr, "every_form: size %zu\n", n);
    }
    CHECK(ok);
    void *a = ::operator new(0), *b = ::operator new(0);
    CHECK(a != nullptr && b != nullptr && a != b);          // 0 bytes: unique blocks
    ::operator delete(a);
    ::operator delete(b);
}

void test_sized_delete_passes_size()
{
    // Sizes far beyond the block reach dog_free_sized, which aborts: the size is passed.
    const std::align_val_t al{64};
    CHECK(dog_test::aborts_with("dog_free_sized",
                                [] { ::operator delete(::operator new(16), 8192); }));
    CHECK(dog_test::aborts_with("dog_free_sized",
                                [] { ::operator delete[](::operator new[](16), 8192); }));
    CHECK(dog_test::aborts_with("dog_free_sized",
                                [=] { ::operator delete(::operator new(16, al), 8192, al); }));
    CHECK(dog_test::aborts_with("dog_free_sized",
                                [=] { ::operator delete[](::operator new[](16, al), 8192, al); }));
    // A delete of memory that dogmalloc never handed out: dog_free reports it.
    CHECK(dog_test::aborts_with("dog_free", [] {
        void *volatile foreign = std::malloc(32);           // volatile: no compile-time warning
        ::operator delete(foreign);
    }));
}

void test_library_allocations()
{
    std::vector<int> v(10000, 1);
    std::string s(1000, 's');
    auto sp = std::make_shared<std::vector<double>>(100);
    auto up = std::make_unique<Line>();
    CHECK(is_dog(v.data()) && is_dog(s.data()) && is_dog(sp->data()));
    CHECK(dog_heap_contains(dog_default, sp.get()) && is_dog(up.get()) && aligned(up.get(), 64));
    void *m = std::malloc(64);                              // the C library's, untouched
    CHECK(m != nullptr && dog_heap_of(m) == nullptr);
    std::free(m);
}

void test_failure()
{
    const std::align_val_t al{64};
    for (std::size_t n : {huge, too_big}) {
        CHECK_THROWS(kept(::operator new(n)), std::bad_alloc);
        CHECK_THROWS(kept(::operator new[](n)), std::bad_alloc);
        CHECK_THROWS(kept(::operator new(n, al)), std::bad_alloc);
        CHECK_THROWS(kept(::operator new[](n, al)), std::bad_alloc);
        CHECK(kept(::operator new(n, std::nothrow)) == nullptr);
        CHECK(kept(::operator new[](n, std::nothrow)) == nullptr);
        CHECK(kept(::operator new(n, al, std::nothrow)) == nullptr);
        CHECK(kept(::operator new[](n, al, std::nothrow)) == nullptr);
    }
    // New-expressions too; their result escapes, or Clang may elide the allocation.
    volatile std::size_t count = huge / sizeof(Line);
    Line *volatile lines = new (std::nothrow) Line[count];
    CHECK(lines == nullptr);
    CHECK_THROWS(lines = new Line[count], std::bad_alloc);
}

int handler_calls;
void give_up_after_three()
{
    if (++handler_calls == 3)
        std::set_new_handler(nullptr);
}

struct out_of_room : std::bad_alloc {};
void throw_own()
{
    handler_calls++;
    throw out_of_room();
}

void test_new_handler_loop()
{
    const std::align_val_t al{64};
    // A handler that gives up on its third call: three calls, then std::bad_alloc.
    auto throwing = {+[] { kept(::operator new(huge)); }, +[] { kept(::operator new[](huge)); },
                     +[] { kept(::operator new(huge, std::align_val_t{64})); },
                     +[] { kept(::operator new[](huge, std::align_val_t{64})); }};
    for (auto f : throwing) {
        handler_calls = 0;
        std::set_new_handler(give_up_after_three);
        CHECK_THROWS(f(), std::bad_alloc);
        CHECK(handler_calls == 3);
    }
    handler_calls = 0;
    std::set_new_handler(give_up_after_three);
    CHECK(kept(::operator new(huge, std::nothrow)) == nullptr && handler_calls == 3);
    handler_calls = 0;
    std::set_new_handler(give_up_after_three);
    CHECK(kept(::operator new[](huge, al, std::nothrow)) == nullptr && handler_calls == 3);
    // A handler's own exception reaches the caller; the nothrow forms turn it into nullptr.
    std::set_new_handler(throw_own);
    handler_calls = 0;
    CHECK_THROWS(kept(::operator new(huge)), out_of_room);
    CHECK(kept(::operator new(huge, std::nothrow)) == nullptr);
    CHECK(kept(::operator new[](huge, al, std::nothrow)) == nullptr && handler_calls == 3);
    // A bad alignment is no shortage: no handler call, a failure at once.
    handler_calls = 0;
    volatile std::size_t three = 3, forty_eight = 48;       // hidden from the compiler's check
    CHECK_THROWS(kept(::operator new(64, std::align_val_t{three})), std::bad_alloc);
    CHECK(kept(::operator new(64, std::align_val_t{forty_eight}, std::nothrow)) == nullptr);
    CHECK(handler_calls == 0);
    std::set_new_handler(nullptr);
}

std::size_t saved_limit;
void lift_limit()
{
    handler_calls++;
    dog_heap_set_limit(dog_default, saved_limit);           // make room: the retry succeeds
}

void test_new_handler_makes_room()
{
    saved_limit = dog_test::stats(dog_default).limit;
    std::size_t mapped = dog_test::stats(dog_default).bytes_mapped;
    CHECK(dog_heap_set_limit(dog_default, mapped + 4 * DOG_HEAP_LIMIT_MIN) == 0);
    handler_calls = 0;
    std::set_new_handler(lift_limit);
    char *big = new char[64u << 20];                          // past the budget at first
    CHECK(handler_calls == 1 && is_dog(big));
    delete[] big;
    CHECK(dog_heap_set_limit(dog_default, mapped + 4 * DOG_HEAP_LIMIT_MIN) == 0);
    handler_calls = 0;
    Page *pages = new (std::nothrow) Page[1u << 14];          // aligned and nothrow: same
    CHECK(handler_calls == 1 && is_dog(pages) && aligned(pages, 4096));
    delete[] pages;
    std::set_new_handler(nullptr);
    dog_heap_set_limit(dog_default, saved_limit);
}

} // namespace

int main()
{
    return dog_test::run("new_delete", {
        {"new_expressions", test_new_expressions},
        {"every_form", test_every_form},
        {"sized_delete_passes_size", test_sized_delete_passes_size},
        {"library_allocations", test_library_allocations},
        {"failure", test_failure},
        {"new_handler_loop", test_new_handler_loop},
        {"new_handler_makes_room", test_new_handler_makes_room},
    });
}
