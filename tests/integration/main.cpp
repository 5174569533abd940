#define BOOST_TEST_MODULE counsel_integration
#include <boost/test/unit_test.hpp>
