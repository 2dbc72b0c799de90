/* SPDX-License-Identifier: MIT */
/**
 * @file dogmalloc.hpp
 * @brief dogmalloc for C++: standard containers on a heap of their own.
 *
 * A header-only layer over dogmalloc.h for C++17 and later, in namespace `dog`:
 * dog::heap_allocator (an allocator for std::vector, std::map, std::basic_string and the
 * other allocator-aware containers), dog::memory_resource (a `std::pmr` resource for
 * `std::pmr::vector` and friends) and dog::heap (a move-only owner that creates a heap and
 * destroys it). Each is bound to a #dog_heap_t, so what a container allocates counts
 * against that heap's budget, shows in its statistics and goes with dog_heap_destroy().
 *
 * Link as for dogmalloc.h (`c++ app.cpp $(pkg-config --cflags --libs dogmalloc)`);
 * nothing here needs a library of its own. To route the program's global `new` and
 * `delete` to dogmalloc as well, see dogmalloc-new-delete.h.
 *
 * Errors are exceptions, as the standard library's allocators report them (without
 * exceptions, `-fno-exceptions`, they call `std::abort()`, as libstdc++ does): a NULL from
 * dogmalloc (out of memory, over the heap's budget) becomes `std::bad_alloc`, and a
 * request whose size in bytes overflows `std::size_t` becomes
 * `std::bad_array_new_length`. A heap's `on_limit` handler (#dog_limit_fn) runs before a
 * refusal, as the `std::new_handler` does for `operator new`.
 *
 * Lifetime: dog_heap_destroy() and dog_heap_reset() release memory, not objects; they run
 * no destructors. Destroy or reset a heap only after the containers on it are gone (or
 * never touched again and holding nothing that needs a destructor).
 * @since 0.2
 */
#ifndef DOGMALLOC_HPP
#define DOGMALLOC_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "dogmalloc.hpp needs C++17 or later (-std=c++17); C code includes dogmalloc.h"
#endif

#include <dogmalloc.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <system_error>
#include <type_traits>

#if defined(__has_include)
#if __has_include(<memory_resource>)
#include <memory_resource>
#endif
#endif
#if defined(DOG_DOXYGEN) || \
    (defined(__cpp_lib_memory_resource) && __cpp_lib_memory_resource >= 201603L)
/** 1 when the standard library has `std::pmr::memory_resource` (C++17's
 *  `<memory_resource>`), so that dog::memory_resource and dog::heap::resource() exist;
 *  0 otherwise (libc++ before 16, for one). @since 0.2 */
#define DOG_HAS_MEMORY_RESOURCE 1
#else
#define DOG_HAS_MEMORY_RESOURCE 0
#endif

/** @defgroup cxx_api C++ containers on a heap (dogmalloc.hpp)
 *  dog::heap_allocator, dog::memory_resource and dog::heap, in namespace `dog`.
 *
 *  Thread-safety: allocating and deallocating through any of them is safe from any
 *  thread, as the dog_heap_* functions are; a block may be deallocated by another thread
 *  than the one that allocated it. The objects themselves are plain values: sharing one
 *  between threads needs the usual care for a value that one of them changes
 *  (assignment, dog::heap::reset()).
 *  @since 0.2
 *  @{ */

/** The C++ interface of dogmalloc (dogmalloc.hpp). @since 0.2 */
namespace dog {

/// @cond DOG_INTERNAL
namespace detail {
/* Throw e; without exceptions (-fno-exceptions), abort as libstdc++ does in that mode. */
template <class E> [[noreturn]] inline void raise(const E &e)
{
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    throw e;
#else
    (void)e;
    std::abort();
#endif
}
} /* namespace detail */
/// @endcond

/**
 * An allocator for the standard containers that takes its memory from one heap.
 *
 * `std::vector<int, dog::heap_allocator<int>> v(heap)` puts the vector's array in
 * @p heap; node containers (std::map, std::list) rebind it and put their nodes there too.
 * A default-constructed allocator uses #dog_default.
 *
 * Allocation: dog_heap_malloc(), or dog_heap_aligned_alloc() for a type aligned beyond
 * `alignof(std::max_align_t)` (dogmalloc blocks of 16 bytes or more are 16-aligned, and
 * an object is never smaller than its alignment, so other types need no more).
 * Deallocation: dog_free_sized() with the size in bytes, so that dogmalloc checks it
 * against the block (an `n` too large for it aborts with a message, see #DOG_OPTION_MISUSE).
 *
 * Equality: two allocators are equal when they name the same heap. Memory from any heap
 * could be freed through any allocator (dog_free() takes every block), but a container
 * must not end up holding nodes of another heap, whose budget, statistics and
 * dog_heap_destroy() they would escape; so `is_always_equal` is false, and containers on
 * different heaps copy elements where they would otherwise exchange memory (std::list's
 * `splice` between them is undefined, as for any unequal allocators). The allocator
 * propagates on copy assignment, move assignment and swap: a container assigned or
 * swapped takes its memory's heap with it, and its old memory goes back to its own heap
 * first.
 *
 * Thread-safety: see @ref cxx_api. Allocating and deallocating are safe from any thread.
 * @tparam T  the value type.
 * @since 0.2
 */
template <class T> class heap_allocator {
    static_assert(alignof(std::max_align_t) <= 16,
                  "dogmalloc aligns plain blocks to 16 at most: more needs the aligned path");

public:
    /** The type of the objects allocated. @since 0.2 */
    using value_type = T;
    /** Copy assignment of a container takes the source's heap. @since 0.2 */
    using propagate_on_container_copy_assignment = std::true_type;
    /** Move assignment of a container takes the source's heap (and its memory). @since 0.2 */
    using propagate_on_container_move_assignment = std::true_type;
    /** swap() of two containers swaps their heaps too. @since 0.2 */
    using propagate_on_container_swap = std::true_type;
    /** Allocators on different heaps are not interchangeable (see above). @since 0.2 */
    using is_always_equal = std::false_type;

    /** An allocator on #dog_default. @since 0.2 */
    heap_allocator() noexcept : heap_(dog_default) {}

    /**
     * An allocator on @p heap.
     *
     * Implicit, as `std::pmr::polymorphic_allocator`'s constructor from a resource is, so
     * that a container can be constructed from the heap: `std::vector<int,
     * dog::heap_allocator<int>> v(heap);`.
     * @param heap  a live heap (#dog_default included); it must outlive every block
     *              allocated through this allocator and its copies.
     * @since 0.2
     */
    heap_allocator(dog_heap_t *heap) noexcept : heap_(heap) {}

    /**
     * The same heap for another value type (what containers do to allocate nodes).
     * @param other  an allocator of any value type.
     * @since 0.2
     */
    template <class U> heap_allocator(const heap_allocator<U> &other) noexcept
        : heap_(other.heap()) {}

    /**
     * Allocate room for @p n objects of type T (not constructed) from the heap.
     *
     * Safe from any thread. The block belongs to the heap: deallocate() it, or let
     * dog_heap_destroy() release it with the heap.
     * @param n  the number of objects; 0 gives a unique block, as dog_heap_malloc(0) does.
     * @return the block, aligned for T.
     * @exception std::bad_array_new_length  `n * sizeof(T)` does not fit in a `size_t`.
     * @exception std::bad_alloc  more than `PTRDIFF_MAX` bytes, or dogmalloc returned NULL:
     *            out of memory, or over the heap's budget after its `on_limit` handler (if
     *            any) declined.
     * @since 0.2
     */
    [[nodiscard]] T *allocate(std::size_t n)
    {
        if (n > static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T)) {
            if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
                detail::raise(std::bad_array_new_length());
            detail::raise(std::bad_alloc());     /* no block exceeds PTRDIFF_MAX */
        }
        void *p;
        if constexpr (alignof(T) > alignof(std::max_align_t))
            p = dog_heap_aligned_alloc(heap_, alignof(T), n * sizeof(T));
        else
            p = dog_heap_malloc(heap_, n * sizeof(T));
        if (p == nullptr)
            detail::raise(std::bad_alloc());
        return static_cast<T *>(p);
    }

    /**
     * Return the block @p p, of @p n objects, to its heap (dog_free_sized()).
     *
     * Safe from any thread, whichever thread allocated the block. A size larger than the
     * block's aborts with a message that names dog_free_sized(), as any misuse does.
     * @param p  a block from allocate() of an allocator equal to this one.
     * @param n  the @p n given to allocate().
     * @since 0.2
     */
    void deallocate(T *p, std::size_t n) noexcept { dog_free_sized(p, n * sizeof(T)); }

    /**
     * The heap this allocator takes memory from.
     * @return the heap given at construction (#dog_default for a default-constructed one).
     * @since 0.2
     */
    dog_heap_t *heap() const noexcept { return heap_; }

private:
    dog_heap_t *heap_;
};

/** Two allocators are equal when they take memory from the same heap.
 *  @param a  an allocator.
 *  @param b  another, of any value type.
 *  @return `a.heap() == b.heap()`.
 *  @since 0.2 */
template <class T, class U>
bool operator==(const heap_allocator<T> &a, const heap_allocator<U> &b) noexcept
{
    return a.heap() == b.heap();
}

/** The negation of operator==() (C++17 does not derive it).
 *  @param a  an allocator.
 *  @param b  another, of any value type.
 *  @return `a.heap() != b.heap()`.
 *  @since 0.2 */
template <class T, class U>
bool operator!=(const heap_allocator<T> &a, const heap_allocator<U> &b) noexcept
{
    return a.heap() != b.heap();
}

#if DOG_HAS_MEMORY_RESOURCE
/**
 * A `std::pmr::memory_resource` that allocates from one heap.
 *
 * `dog::memory_resource res(heap); std::pmr::vector<int> v(&res);` puts the vector in
 * @p heap, and so does every pmr container built on `&res` (as the upstream of a
 * `std::pmr::monotonic_buffer_resource` too). The resource only names the heap: it must
 * outlive the containers that use it, and the heap must outlive both. Present when
 * #DOG_HAS_MEMORY_RESOURCE is 1.
 *
 * Any alignment that is a power of two works (dog_heap_aligned_alloc() serves every
 * request, taking the plain path when the alignment asks nothing beyond it), and
 * deallocation passes the size to dog_free_sized(), which checks it.
 *
 * Thread-safety: allocate() and deallocate() are safe from any thread.
 * @since 0.2
 */
class memory_resource : public std::pmr::memory_resource {
public:
    /** A resource on #dog_default. @since 0.2 */
    memory_resource() noexcept : heap_(dog_default) {}

    /**
     * A resource on @p heap.
     * @param heap  a live heap; it must outlive the blocks allocated through this resource.
     * @since 0.2
     */
    explicit memory_resource(dog_heap_t *heap) noexcept : heap_(heap) {}

    /**
     * The heap this resource takes memory from.
     * @return the heap given at construction.
     * @since 0.2
     */
    dog_heap_t *heap() const noexcept { return heap_; }

protected:
    /**
     * Allocate @p bytes aligned to @p alignment from the heap (dog_heap_aligned_alloc()).
     * @param bytes      the size.
     * @param alignment  a power of two.
     * @return the block.
     * @exception std::bad_alloc  dogmalloc returned NULL (out of memory, over the heap's
     *            budget, or an alignment that is not a power of two).
     * @since 0.2
     */
    void *do_allocate(std::size_t bytes, std::size_t alignment) override
    {
        void *p = dog_heap_aligned_alloc(heap_, alignment, bytes);
        if (p == nullptr)
            detail::raise(std::bad_alloc());
        return p;
    }

    /**
     * Return @p p to its heap with its size (dog_free_sized()).
     * @param p          a block from do_allocate() of an equal resource.
     * @param bytes      the size it was allocated with.
     * @param alignment  its alignment (dogmalloc needs it not).
     * @since 0.2
     */
    void do_deallocate(void *p, std::size_t bytes, std::size_t alignment) override
    {
        (void)alignment;
        dog_free_sized(p, bytes);
    }

    /**
     * Whether @p other is a dog::memory_resource on the same heap (memory from either may
     * be deallocated through the other).
     * @param other  any resource.
     * @return true for this resource and for any dog::memory_resource on the same heap.
     * @since 0.2
     */
    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
    {
        if (this == &other)
            return true;
#if defined(__cpp_rtti) || defined(__GXX_RTTI)
        const auto *o = dynamic_cast<const memory_resource *>(&other);
        return o != nullptr && o->heap_ == heap_;
#else
        return false;       /* without RTTI only the same object is known to be equal */
#endif
    }

private:
    dog_heap_t *heap_;
};
#endif

/**
 * A heap owned by a C++ object: created by the constructor, destroyed by the destructor.
 *
 * Move-only, as `std::unique_ptr` is; a moved-from heap holds nothing (get() is NULL).
 * Containers on it take allocator() or resource(), and hold the #dog_heap_t itself, not
 * this object, so moving the owner leaves them working. The destructor calls
 * dog_heap_destroy(), which releases every block still in the heap without running a
 * destructor: destroy the containers first.
 *
 * Thread-safety: the heap may be used from any thread; the owner object is a plain value
 * (moving it, or destroying it while another thread allocates, is a data race).
 * @since 0.2
 */
class heap {
public:
    /**
     * Create a heap with @p opts (dog_heap_new()).
     * @param opts  the options: name, budget, `on_limit` handler.
     * @exception std::bad_alloc     dog_heap_new() failed with ENOMEM.
     * @exception std::system_error  it failed otherwise; `code()` holds `errno` (EINVAL
     *            for a limit below #DOG_HEAP_LIMIT_MIN, say).
     * @since 0.2
     */
    explicit heap(const dog_heap_options_t &opts) : heap_(dog_heap_new(&opts))
    {
        if (heap_ == nullptr)
            fail();
    }

    /**
     * Create a heap with a name and a budget.
     * @param name   a name for reports (copied), or NULL for "heap".
     * @param limit  a budget in bytes, 0 for none (see dog_heap_options_t.limit).
     * @exception std::bad_alloc     as for heap(const dog_heap_options_t &).
     * @exception std::system_error  as for heap(const dog_heap_options_t &).
     * @since 0.2
     */
    explicit heap(const char *name, std::size_t limit = 0)
        : heap(options(name, limit)) {}

    /**
     * Create a heap with the default options (no name, no budget).
     * @exception std::bad_alloc  dog_heap_new() failed with ENOMEM.
     * @since 0.2
     */
    heap() : heap(dog_heap_options_t{}) {}

    /** Destroy the heap and every block still in it (dog_heap_destroy()). @since 0.2 */
    ~heap() { dog_heap_destroy(heap_); }

    /** Take @p other's heap, leaving @p other empty.
     *  @param other  the heap to take. @since 0.2 */
    heap(heap &&other) noexcept : heap_(other.heap_) { other.heap_ = nullptr; }

    /**
     * Destroy this object's heap, then take @p other's, leaving @p other empty.
     * @param other  the heap to take.
     * @return `*this`.
     * @since 0.2
     */
    heap &operator=(heap &&other) noexcept
    {
        if (this != &other) {
            dog_heap_destroy(heap_);
            heap_ = other.heap_;
            other.heap_ = nullptr;
        }
        return *this;
    }

    heap(const heap &) = delete;
    heap &operator=(const heap &) = delete;

    /**
     * The heap, for the dog_heap_* functions.
     * @return it, or NULL after a move or release().
     * @since 0.2
     */
    dog_heap_t *get() const noexcept { return heap_; }

    /**
     * Give up ownership: the caller destroys the heap from now on.
     * @return the heap (NULL if there was none); this object is left empty.
     * @since 0.2
     */
    dog_heap_t *release() noexcept
    {
        dog_heap_t *h = heap_;
        heap_ = nullptr;
        return h;
    }

    /**
     * Free every block of the heap at once and keep it (dog_heap_reset(), with its
     * contract: no container may still use the heap's blocks, and no other thread may use
     * the heap during the call). Not `unique_ptr::reset()`: ownership does not change.
     * A no-op on an empty object.
     * @since 0.2
     */
    void reset() noexcept { dog_heap_reset(heap_); }

    /**
     * An allocator on this heap, for a standard container.
     * @tparam T  the container's value type.
     * @return `dog::heap_allocator<T>(get())`.
     * @since 0.2
     */
    template <class T> heap_allocator<T> allocator() const noexcept
    {
        return heap_allocator<T>(heap_);
    }

#if DOG_HAS_MEMORY_RESOURCE
    /**
     * A `std::pmr` resource on this heap; keep it alive as long as the containers that
     * use it (`auto res = h.resource(); std::pmr::vector<int> v(&res);`).
     * @return `dog::memory_resource(get())`.
     * @since 0.2
     */
    memory_resource resource() const noexcept { return memory_resource(heap_); }
#endif

private:
    static dog_heap_options_t options(const char *name, std::size_t limit) noexcept
    {
        dog_heap_options_t opts{};      /* the fields a newer header adds stay 0 */
        opts.name = name;
        opts.limit = limit;
        return opts;
    }

    [[noreturn]] static void fail()
    {
        int err = errno;
        if (err == ENOMEM)
            detail::raise(std::bad_alloc());
        detail::raise(std::system_error(err, std::generic_category(), "dog_heap_new"));
    }

    dog_heap_t *heap_;
};

/**
 * Route the calling thread's allocations to a heap for a scope (dog_thread_set_heap()):
 * while the object lives, this thread's dog_malloc() family and, under the override,
 * its `malloc` and `new` allocate from the heap; the destructor restores the route that
 * was set before. Not movable or copyable: a route belongs to one thread and one scope.
 * @code
 * {
 *     dog::scoped_route in_plugin(plugin_heap.get());
 *     plugin->run();                  // its new and malloc land in plugin_heap
 * }                                   // the previous route again
 * @endcode
 * What is allocated under the route belongs to the heap and dies with it (see
 * dog_thread_set_heap()).
 * @since 0.2
 */
class scoped_route {
public:
    /**
     * Route to @p h until the destructor.
     * @param h  a live heap, or NULL or #dog_default for no route.
     */
    explicit scoped_route(dog_heap_t *h) noexcept : previous_(dog_thread_set_heap(h)) {}
    /**
     * Route to the heap that @p h owns until the destructor.
     * @param h  the owner of a live heap.
     */
    explicit scoped_route(const heap &h) noexcept : scoped_route(h.get()) {}
    /** Restore the route that was set before the constructor. */
    ~scoped_route() { dog_thread_set_heap(previous_); }
    scoped_route(const scoped_route &) = delete;
    scoped_route &operator=(const scoped_route &) = delete;

private:
    dog_heap_t *previous_;
};

} /* namespace dog */
/** @} */

#endif /* DOGMALLOC_HPP */
