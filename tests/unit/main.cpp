#define BOOST_TEST_MODULE counsel_unit
#include <boost/test/unit_test.hpp>
