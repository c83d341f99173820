#pragma once
// Retry delays after a 503 or a transport error. Pure.

namespace peyk::simulator {

struct backoff_policy {
  double base_s = 0.5;  // the first retry waits 0.25-0.5 s
  double cap_s = 10;    // no retry waits longer
};

// Exponential with "equal jitter": the step doubles per failed attempt (1, 2, ...) up to the
// cap; half of it is fixed, so retries never bunch at zero, half is `unit` (uniform in
// [0, 1)), so couriers that failed together do not retry together.
inline double backoff_delay(int attempt, double unit, const backoff_policy& p = {}) {
  double step = p.base_s;
  for (int i = 1; i < attempt && step < p.cap_s; ++i) step *= 2;
  if (step > p.cap_s) step = p.cap_s;
  return step / 2 + unit * step / 2;
}

}  // namespace peyk::simulator
