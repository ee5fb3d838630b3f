// The same header test, compiled as C++.
#include "test_header.c"
