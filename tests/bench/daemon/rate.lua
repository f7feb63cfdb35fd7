-- wrk script: each connection waits DELAY_MS between its requests, so that C connections make
-- about C * 1000 / (DELAY_MS + latency) requests per second: a fixed-rate load with plain wrk
-- (wrk2 is not in Debian).  wrk's latency figures measure each request alone, without the delay.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "10")
function delay()
        return delay_ms
end
done = function(summary, latency, requests)
        io.write(string.format("p50_us=%d p90_us=%d p99_us=%d max_us=%d requests=%d errors=%d\n",
                latency:percentile(50), latency:percentile(90), latency:percentile(99),
                latency.max, summary.requests,
                summary.errors.connect + summary.errors.read + summary.errors.write +
                summary.errors.status + summary.errors.timeout))
end
