// corio/corio.hpp: everything, for applications that want one include.
#pragma once

#include "corio/blocking.hpp"
#include "corio/cancel.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/net/resolve.hpp"
#include "corio/net/tcp_listener.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/result.hpp"
#include "corio/runtime.hpp"
#include "corio/scope.hpp"
#include "corio/signal.hpp"
#include "corio/sync/channel.hpp"
#include "corio/sync/event.hpp"
#include "corio/sync/mutex.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "corio/when.hpp"
