#include "backend/backend.hpp"
namespace corio::detail {
result<backend_set> make_epoll_backends(unsigned) { return fail(std::errc::function_not_supported); }
}
