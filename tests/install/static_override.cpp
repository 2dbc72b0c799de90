/* SPDX-License-Identifier: MIT */
/* static_override.cpp: a fully static C++ program linked with libdogmalloc-override.a that
 * never calls malloc itself: operator new and delete (plain, array, aligned) and the
 * standard containers reach dog_default through libstdc++. Exits non-zero otherwise. */
#include <dogmalloc.h>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

static int failures;

static void expect_dog(const char *what, const void *p)
{
    if (p == nullptr || dog_heap_of(p) != dog_default) {
        std::fprintf(stderr, "static_override: %s: %p is not a block of dog_default\n", what, p);
        failures++;
    }
}

struct alignas(128) Wide {
    char bytes[300];
};

int main()
{
    int *one = new int(7);
    expect_dog("new int", one);
    int *many = new int[1000];
    expect_dog("new int[1000]", many);
    Wide *wide = new Wide;
    expect_dog("new of an over-aligned type", wide);
    std::string text(500, 'x');
    expect_dog("std::string", text.data());
    std::vector<std::unique_ptr<double>> v;
    for (int i = 0; i < 1000; i++)
        v.push_back(std::make_unique<double>(i));
    expect_dog("std::vector", v.data());
    expect_dog("std::make_unique", v.back().get());
    std::map<int, std::string> m{{1, std::string(100, 'a')}};
    expect_dog("std::map's string", m[1].data());
    delete one;
    delete[] many;
    delete wide;
    std::printf("static_override (C++): %s\n",
                failures ? "FAILED" : "every block came from dog_default");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
