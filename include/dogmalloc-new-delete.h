/* SPDX-License-Identifier: MIT */
/**
 * @file dogmalloc-new-delete.h
 * @brief Every replaceable global `operator new` and `operator delete`, on dogmalloc.
 *
 * Include this header in **exactly one** translation unit of a C++ program (the one with
 * `main`, say) and link dogmalloc as usual (`-ldogmalloc`, or libdogmalloc.a): the
 * program's `new` and `delete`, and the standard library's (containers, `std::string`,
 * `std::make_shared`, `std::pmr::new_delete_resource()`), then allocate from
 * #dog_default with no `LD_PRELOAD`, while `malloc` stays the C library's. The header
 * defines the functions themselves, not inline ones (the standard forbids inline
 * replacements), so a second translation unit that includes it fails to link with
 * "multiple definition of operator new"; the others need nothing, since `<new>` declares
 * the operators for everyone. In a shared library the definitions replace the operators
 * of the whole process, as any replacement does (`<new>` gives them default visibility,
 * even under `-fvisibility=hidden`).
 *
 * The 20 forms, C++17 and later: `new`, `new[]`, each plain, `std::nothrow`,
 * `std::align_val_t` and both; `delete` and `delete[]`, each plain, sized,
 * `std::align_val_t`, sized and aligned, `std::nothrow`, and aligned `std::nothrow`.
 *
 * - `new` is dog_malloc(), or dog_aligned_alloc() for an `std::align_val_t` form. It never
 *   returns NULL (a size of 0 gives a unique block). When dogmalloc returns NULL (ENOMEM:
 *   out of memory, or past `DOGMALLOC_LIMIT`), it calls the `std::get_new_handler()`
 *   handler and tries again, for as long as a handler is installed, and throws
 *   `std::bad_alloc` when none is (the loop of [new.delete.single]). Without exceptions
 *   (`-fno-exceptions`) it calls `std::abort()` instead of throwing.
 * - The `std::nothrow` forms run the same loop and return `nullptr` where the others throw,
 *   also when the handler throws.
 * - An alignment that is not a power of two (a direct call with a bad `std::align_val_t`;
 *   new-expressions never pass one) fails at once, without calling the handler.
 * - `delete` is dog_free(); the sized forms call dog_free_sized() with the size, so that
 *   a size larger than the block aborts with a message, as a misuse does (GCC sizes
 *   `delete` by default since C++14; Clang before 19 needs `-fsized-deallocation`).
 *   A `delete` of memory that is not a dogmalloc block (from the C library's `malloc`,
 *   say) aborts with dog_free()'s misuse message.
 *
 * The override and this header: libdogmalloc-override.so and libdogmalloc-override.a
 * replace the C library's `malloc` family and define no `operator new`; under them,
 * libstdc++'s own `operator new` calls `malloc` and so reaches dogmalloc too. The two can
 * be used together: this header's operators call dog_malloc() straight (one call less, and
 * sized frees checked), the override serves `malloc`, and a program linked with
 * libdogmalloc.so and run with the override preloaded still has one allocator, since its
 * `dog_*` calls bind to the preloaded copy (see @ref override_one). Do not link the
 * static override next to libdogmalloc.a: both define the `dog_*` functions.
 * @since 0.2
 */
#ifndef DOGMALLOC_NEW_DELETE_H
#define DOGMALLOC_NEW_DELETE_H

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "dogmalloc-new-delete.h needs C++17 or later (-std=c++17), for std::align_val_t"
#endif

#include <dogmalloc.h>

#include <cstddef>
#include <cstdlib>
#include <new>

/// @cond DOG_INTERNAL
/* <new> gives the operators default visibility, except the sized deletes when the
 * compiler does not size deallocation (Clang before 19 without -fsized-deallocation);
 * the attribute keeps every one of them global under -fvisibility=hidden. */
#if defined(__GNUC__)
#define DOG_NEW_DELETE_API __attribute__((visibility("default")))
#else
#define DOG_NEW_DELETE_API
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define DOG_NEW_DELETE_EXCEPTIONS 1
#else
#define DOG_NEW_DELETE_EXCEPTIONS 0
#endif

namespace dog {
namespace new_delete_detail {

/* The slow path of every operator new: dogmalloc returned NULL. Call the new-handler and
 * try again while there is one; then fail: nullptr for the nothrow forms, else
 * std::bad_alloc. align is 0 for the forms without std::align_val_t. */
inline void *retry(std::size_t size, std::size_t align, bool nothrow)
{
    bool valid = align == 0 || (align & (align - 1)) == 0;   /* else EINVAL: no retry */
    while (valid) {
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr)
            break;
#if DOG_NEW_DELETE_EXCEPTIONS
        if (nothrow) {
            try {
                handler();
            } catch (...) {
                return nullptr;
            }
        } else {
            handler();
        }
#else
        handler();
#endif
        void *p = align == 0 ? dog_malloc(size) : dog_aligned_alloc(align, size);
        if (p != nullptr)
            return p;
    }
    if (nothrow)
        return nullptr;
#if DOG_NEW_DELETE_EXCEPTIONS
    throw std::bad_alloc();
#else
    std::abort();
#endif
}

inline void *alloc(std::size_t size, bool nothrow)
{
    void *p = dog_malloc(size);
    return p != nullptr ? p : retry(size, 0, nothrow);
}

inline void *alloc_aligned(std::size_t size, std::align_val_t align, bool nothrow)
{
    std::size_t a = static_cast<std::size_t>(align);
    void *p = dog_aligned_alloc(a, size);
    return p != nullptr ? p : retry(size, a, nothrow);
}

} /* namespace new_delete_detail */
} /* namespace dog */

/* --- new: plain and array, each throwing and nothrow, unaligned and aligned --- */

DOG_NEW_DELETE_API void *operator new(std::size_t size)
{
    return dog::new_delete_detail::alloc(size, false);
}

DOG_NEW_DELETE_API void *operator new[](std::size_t size)
{
    return dog::new_delete_detail::alloc(size, false);
}

DOG_NEW_DELETE_API void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    return dog::new_delete_detail::alloc(size, true);
}

DOG_NEW_DELETE_API void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    return dog::new_delete_detail::alloc(size, true);
}

DOG_NEW_DELETE_API void *operator new(std::size_t size, std::align_val_t align)
{
    return dog::new_delete_detail::alloc_aligned(size, align, false);
}

DOG_NEW_DELETE_API void *operator new[](std::size_t size, std::align_val_t align)
{
    return dog::new_delete_detail::alloc_aligned(size, align, false);
}

DOG_NEW_DELETE_API void *operator new(std::size_t size, std::align_val_t align,
                                      const std::nothrow_t &) noexcept
{
    return dog::new_delete_detail::alloc_aligned(size, align, true);
}

DOG_NEW_DELETE_API void *operator new[](std::size_t size, std::align_val_t align,
                                        const std::nothrow_t &) noexcept
{
    return dog::new_delete_detail::alloc_aligned(size, align, true);
}

/* --- delete: every block is dogmalloc's, whatever its alignment; a size is checked --- */

DOG_NEW_DELETE_API void operator delete(void *p) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete[](void *p) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete(void *p, std::size_t size) noexcept
{
    dog_free_sized(p, size);
}

DOG_NEW_DELETE_API void operator delete[](void *p, std::size_t size) noexcept
{
    dog_free_sized(p, size);
}

DOG_NEW_DELETE_API void operator delete(void *p, std::align_val_t) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete[](void *p, std::align_val_t) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete(void *p, std::size_t size, std::align_val_t) noexcept
{
    dog_free_sized(p, size);
}

DOG_NEW_DELETE_API void operator delete[](void *p, std::size_t size, std::align_val_t) noexcept
{
    dog_free_sized(p, size);
}

DOG_NEW_DELETE_API void operator delete(void *p, const std::nothrow_t &) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete[](void *p, const std::nothrow_t &) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept
{
    dog_free(p);
}

DOG_NEW_DELETE_API void operator delete[](void *p, std::align_val_t,
                                         const std::nothrow_t &) noexcept
{
    dog_free(p);
}
/// @endcond

#endif /* DOGMALLOC_NEW_DELETE_H */
