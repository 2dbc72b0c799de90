/* SPDX-License-Identifier: MIT */
/* containers.cpp: standard C++ containers on a heap of their own, with dogmalloc.hpp.
 *
 * A word index (std::map of std::basic_string to std::vector) lives in a dog::heap with a
 * budget: its statistics are the index's alone, and the budget turns into std::bad_alloc.
 * A std::pmr::vector shares the heap through dog::memory_resource.
 *
 * Build: c++ -std=c++17 containers.cpp $(pkg-config --cflags --libs dogmalloc)
 */
#include <dogmalloc.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory_resource>
#include <scoped_allocator>
#include <string>
#include <vector>

template <class T> using on_heap = std::scoped_allocator_adaptor<dog::heap_allocator<T>>;
using word = std::basic_string<char, std::char_traits<char>, dog::heap_allocator<char>>;
using positions = std::vector<int, dog::heap_allocator<int>>;
using entry = std::pair<const word, positions>;
using word_index = std::map<word, positions, std::less<word>, on_heap<entry>>;

int main()
{
    dog::heap heap("index", 8u << 20);                    /* an 8 MiB budget */
    dog_heap_stats_t st;
    {
        word_index idx(heap.allocator<entry>());           /* its strings and vectors too */
        for (int i = 0; i < 20000; i++) {
            std::string key = "word-" + std::to_string(i % 500) + "-of-the-index";
            idx[word(key.c_str(), heap.allocator<char>())].push_back(i);
        }
        dog_heap_stats(heap.get(), &st);
        std::printf("index: %zu words, %zu blocks, %zu KiB in the heap\n", idx.size(),
                    st.blocks_in_use, st.bytes_in_use / 1024);

        auto res = heap.resource();                        /* the same heap, through pmr */
        std::pmr::vector<double> samples(&res);
        try {
            for (;;)
                samples.push_back(1.0);                    /* until the budget says no */
        } catch (const std::bad_alloc &) {
            std::printf("budget reached at %zu samples; the index is intact: %zu words\n",
                        samples.size(), idx.size());
        }
    }
    dog_heap_stats(heap.get(), &st);
    std::printf("after the containers: %zu bytes in use\n", st.bytes_in_use);
    return st.bytes_in_use == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
