/* SPDX-License-Identifier: MIT */
// cxx_threads.cpp: std:: containers from several threads, and every operator new/delete
// variant (plain, sized, aligned, array, nothrow), printing a deterministic digest.
//
// Usage: cxx_threads [THREADS [WORDS]]   (defaults: 4 threads, 60000 words each)
//
// Each thread builds vectors, strings, maps, unordered_maps, lists, deques and
// shared_ptr graphs from its own deterministic word stream and hashes what it built.
// Threads also pass shared_ptr-owned objects to the next thread through a queue, so
// that blocks are freed by a thread other than the one that allocated them. The digest
// depends only on the arguments, never on scheduling or on the allocator.
// Built with -fsized-deallocation so that `delete` passes the size to libstdc++.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::atomic<int> failures{0};

void fail(const char *what, const void *p, std::size_t n)
{
    std::fprintf(stderr, "cxx_threads: %s (%p, %zu)\n", what, p, n);
    failures++;
}

// FNV-1a, fed with strings and integers.
struct Digest {
    std::uint64_t h = 1469598103934665603ULL;
    void add(const void *data, std::size_t n)
    {
        const unsigned char *p = static_cast<const unsigned char *>(data);
        for (std::size_t i = 0; i < n; i++) {
            h ^= p[i];
            h *= 1099511628211ULL;
        }
    }
    void add(const std::string &s) { add(s.data(), s.size()); }
    void add(std::uint64_t v) { add(&v, sizeof v); }
};

struct Rng {
    std::uint64_t s;
    explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
    std::uint64_t next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1DULL;
    }
};

std::string make_word(Rng &r)
{
    static const char letters[] = "etaoinshrdlucmfwypvbgkjqxz";
    std::size_t len = 1 + r.next() % 12;
    std::string w;
    for (std::size_t i = 0; i < len; i++)
        w += letters[std::min<std::size_t>(r.next() % 26, r.next() % 26)];
    return w;
}

// --- Over-aligned types: new and delete go through the align_val_t operators ---

struct alignas(64) Line {
    std::uint64_t v[8];
};
struct alignas(4096) Page {
    unsigned char bytes[4096];
};

template <typename T> void check_aligned(const T *p)
{
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0)
        fail("misaligned over-aligned object", p, alignof(T));
}

// --- Cross-thread hand-off: thread i produces, thread i+1 consumes and frees ---

struct Node {
    std::string name;
    std::vector<int> data;
    std::shared_ptr<Node> next;
};

struct Mailbox {
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Node>> q;
    bool closed = false;

    void put(std::shared_ptr<Node> n)
    {
        {
            std::lock_guard<std::mutex> g(m);
            q.push_back(std::move(n));
        }
        cv.notify_one();
    }
    void close()
    {
        {
            std::lock_guard<std::mutex> g(m);
            closed = true;
        }
        cv.notify_one();
    }
    // Returns nullptr once closed and drained.
    std::shared_ptr<Node> get()
    {
        std::unique_lock<std::mutex> g(m);
        cv.wait(g, [this] { return !q.empty() || closed; });
        if (q.empty())
            return nullptr;
        std::shared_ptr<Node> n = std::move(q.front());
        q.pop_front();
        return n;
    }
};

struct Result {
    std::uint64_t containers = 0;
    std::uint64_t received = 0;
};

std::uint64_t containers(unsigned id, std::size_t nwords, Mailbox &out)
{
    Rng r(id + 1);
    Digest d;
    std::vector<std::string> words;
    words.reserve(16);                         // force many regrowths
    for (std::size_t i = 0; i < nwords; i++)
        words.push_back(make_word(r));

    std::map<std::string, std::size_t> counts;
    std::unordered_map<std::string, std::vector<std::size_t>> where;
    for (std::size_t i = 0; i < words.size(); i++) {
        counts[words[i]]++;
        where[words[i]].push_back(i);
    }
    for (const auto &kv : counts) {            // ordered: deterministic
        d.add(kv.first);
        d.add(kv.second);
        d.add(where.at(kv.first).back());
    }

    // Sort by count, then word; keep the top entries in a list and a deque.
    std::vector<std::pair<std::size_t, std::string>> by_count;
    for (const auto &kv : counts)
        by_count.emplace_back(kv.second, kv.first);
    std::sort(by_count.begin(), by_count.end(), [](const auto &a, const auto &b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::list<std::string> top;
    std::deque<std::string> tail;
    for (std::size_t i = 0; i < by_count.size(); i++)
        (i < 100 ? top.push_back(by_count[i].second) : tail.push_front(by_count[i].second));
    for (const auto &w : top)
        d.add(w);
    d.add(tail.size());

    // Long strings grown by appending and shrunk by erasing.
    std::string text;
    for (const auto &w : words) {
        text += w;
        text += ' ';
        if (text.size() > 200000)
            text.erase(0, 100000);
    }
    d.add(text);

    // A shared_ptr chain, built here and handed to the next thread in pieces.
    std::shared_ptr<Node> head;
    for (std::size_t i = 0; i < nwords / 10; i++) {
        auto n = std::make_shared<Node>();
        n->name = words[i] + "#" + std::to_string(i);
        n->data.assign(1 + i % 50, static_cast<int>(i));
        n->next = head;
        head = n;
        if (i % 100 == 99) {
            out.put(head);
            head.reset();
        }
    }
    std::weak_ptr<Node> weak = head;
    std::size_t chain = 0;
    for (auto p = head; p; p = p->next)
        chain++;
    d.add(chain);
    head.reset();
    if (!weak.expired())
        fail("weak_ptr still alive after the last owner went", nullptr, chain);

    // Big vectors of over-aligned elements (std::allocator uses aligned new for them).
    std::vector<Line> lines(1000 + id);
    check_aligned(lines.data());
    for (std::size_t i = 0; i < lines.size(); i++)
        lines[i].v[i % 8] = i;
    lines.resize(5000);
    check_aligned(lines.data());
    std::unique_ptr<Page[]> pages(new Page[3]);
    check_aligned(pages.get());
    pages[2].bytes[4095] = 7;
    d.add(pages[2].bytes[4095]);
    return d.h;
}

void worker(unsigned id, std::size_t nwords, Mailbox &in, Mailbox &out, Result &res)
{
    res.containers = containers(id, nwords, out);
    out.close();
    // Consume what the previous thread produced: its nodes are freed here.
    Digest d;
    while (auto n = in.get()) {
        for (auto p = n; p; p = p->next) {
            d.add(p->name);
            d.add(p->data.size());
        }
    }
    res.received = d.h;
}

// --- Every operator new/delete variant, called explicitly ---

void operator_variants(Digest &d)
{
    const std::size_t sizes[] = { 1, 24, 100, 1000, 5000, 70000, 300000, 3u << 20 };
    const std::size_t aligns[] = { 16, 64, 256, 4096, 65536, 1u << 21 };
    for (std::size_t size : sizes) {
        void *p = ::operator new(size);
        std::fill_n(static_cast<unsigned char *>(p), size, 0xA5);
        ::operator delete(p, size);                                    // sized
        p = ::operator new[](size);
        ::operator delete[](p, size);                                  // sized array
        p = ::operator new(size, std::nothrow);
        if (p == nullptr)
            fail("nothrow new failed", p, size);
        ::operator delete(p, std::nothrow);
        for (std::size_t al : aligns) {
            std::align_val_t a{ al };
            p = ::operator new(size, a);
            if (reinterpret_cast<std::uintptr_t>(p) % al != 0)
                fail("aligned operator new misaligned", p, al);
            static_cast<unsigned char *>(p)[size - 1] = 1;
            ::operator delete(p, size, a);                             // sized + aligned
            p = ::operator new[](size, a);
            if (reinterpret_cast<std::uintptr_t>(p) % al != 0)
                fail("aligned operator new[] misaligned", p, al);
            ::operator delete[](p, size, a);
            p = ::operator new(size, a, std::nothrow);
            if (p == nullptr || reinterpret_cast<std::uintptr_t>(p) % al != 0)
                fail("aligned nothrow operator new", p, al);
            ::operator delete(p, a, std::nothrow);
            p = ::operator new(size, a);
            ::operator delete(p, a);                                   // unsized aligned
            d.add(size * al);
        }
    }
    // new-expressions of over-aligned types: single objects and arrays, sized delete.
    for (int i = 0; i < 100; i++) {
        Line *l = new Line();
        check_aligned(l);
        Page *pg = new Page();
        check_aligned(pg);
        Line *ls = new Line[1 + i];
        check_aligned(ls);
        Page *ps = new Page[1 + i % 5];
        check_aligned(ps);
        d.add(l->v[0] + pg->bytes[100]);
        delete l;
        delete pg;
        delete[] ls;
        delete[] ps;
    }
    // An impossible request must throw, not crash.
    try {
        void *p = ::operator new(static_cast<std::size_t>(-1) / 2);
        fail("operator new of half the address space succeeded", p, 0);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        d.add(std::string("bad_alloc"));
    }
}

} // namespace

int main(int argc, char **argv)
{
    unsigned nthreads = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 4;
    std::size_t nwords = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 60000;
    if (nthreads < 1 || nthreads > 64 || nwords < 100) {
        std::fprintf(stderr, "usage: cxx_threads [THREADS(1-64) [WORDS(>=100)]]\n");
        return 2;
    }

    Digest ops;
    operator_variants(ops);
    std::printf("operator new/delete variants: %016llx\n",
                static_cast<unsigned long long>(ops.h));

    std::vector<Mailbox> boxes(nthreads);
    std::vector<Result> results(nthreads);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < nthreads; i++)
        threads.emplace_back(worker, i, nwords, std::ref(boxes[(i + nthreads - 1) % nthreads]),
                             std::ref(boxes[i]), std::ref(results[i]));
    for (auto &t : threads)
        t.join();

    Digest all;
    for (unsigned i = 0; i < nthreads; i++) {
        std::printf("thread %u: containers %016llx, received %016llx\n", i,
                    static_cast<unsigned long long>(results[i].containers),
                    static_cast<unsigned long long>(results[i].received));
        all.add(results[i].containers);
        all.add(results[i].received);
    }
    std::printf("digest: %016llx\n", static_cast<unsigned long long>(all.h));
    if (failures != 0) {
        std::printf("cxx_threads: FAILED (%d errors)\n", failures.load());
        return 1;
    }
    std::printf("cxx_threads: OK\n");
    return 0;
}
