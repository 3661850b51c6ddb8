//go:build unix

package kpl_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/bodyguard"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// Producer benchmarks with the Kinesis server in another process, so that the CPU time
// (getrusage RUSAGE_SELF) and the peak RSS measured here are the producer's alone: the server is
// this test binary run again with serverChildEnv set (TestKinesisServerChild), 4 shards, no limits.
// Requests are signed (SigV4 with static dummy credentials, payload SHA-256 included) as against
// Kinesis. Run with -benchtime 1000000x for the README figures (1 M records);
// KPL_BENCH_SDK_SERIALIZER=1 makes the SDK serialize PutRecords bodies, for comparison.

const serverChildEnv = "KPL_BENCH_SERVER_CHILD"

// TestKinesisServerChild is the server process of the producer benchmarks; it does nothing in a
// normal test run. It prints the server's URL and serves until its stdin is closed (the parent
// closes it, or exits).
func TestKinesisServerChild(t *testing.T) {
	if os.Getenv(serverChildEnv) == "" {
		t.Skip("server process of the producer benchmarks")
	}
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("KPL_BENCH_SERVER_URL %s\n", srv.URL())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// startServerProcess starts TestKinesisServerChild and returns its URL; the child stops at cleanup.
func startServerProcess(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKinesisServerChild$")
	cmd.Env = append(os.Environ(), serverChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	url := ""
	for url == "" && sc.Scan() {
		url, _ = strings.CutPrefix(sc.Text(), "KPL_BENCH_SERVER_URL ")
	}
	drained := make(chan struct{})
	go func() { // the rest of the child's output, until it exits
		io.Copy(io.Discard, stdout)
		close(drained)
	}()
	b.Cleanup(func() {
		stdin.Close()
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-drained
		}
		cmd.Wait()
	})
	if url == "" {
		b.Fatalf("server process printed no URL (%v)", sc.Err())
	}
	return url
}

// processClient is a Kinesis client for the server process, signing as against Kinesis.
func processClient(url string) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return kinesis.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  &http.Client{Transport: bodyguard.RoundTripper(tr)},
	}, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(url) })
}

// randomKeys returns n random partition keys (base-36 64-bit numbers, up to 13 characters).
func randomKeys(rng *rand.Rand, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strconv.FormatUint(rng.Uint64(), 36)
	}
	return keys
}

// peakRSS is the process's peak resident set size in bytes (since resetPeakRSS, on Linux).
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) // bytes there, kilobytes elsewhere
	}
	return int64(ru.Maxrss) << 10
}

// resetPeakRSS returns freed memory to the OS and restarts the peak RSS from the current RSS
// (Linux; elsewhere the peak stays the process's).
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// watchLiveHeap samples the live heap (as of the last GC) every 10ms until stop, which returns
// the largest value seen.
func watchLiveHeap() (stop func() int64) {
	done, peak := make(chan struct{}), make(chan int64)
	go func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var top int64
		for {
			metrics.Read(s)
			if s[0].Value.Kind() == metrics.KindUint64 {
				top = max(top, int64(s[0].Value.Uint64()))
			}
			select {
			case <-done:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}

// produceTimed puts n records of size bytes with keys drawn from keys, then flushes; freshData
// allocates each record's data as an application reading input would. It returns the wall and CPU
// time of the producer process. The sequence of keys is drawn before the timed section, so that
// what is timed is the producer's work rather than the benchmark's random draws and look-ups in its
// key table: the keys' bytes are copied into one block (each key once), and each record's key is a
// string over that block, found from a packed offset and length. The producer still reads each key
// from memory it has not touched recently (100,000 keys visited in random order). The sequence
// holds no pointers, so it adds nothing to the garbage collector's work.
// KPL_BENCH_HEAPPROFILE=file writes a heap profile halfway.
func produceTimed(b *testing.B, p *kpl.Producer, n, size int, keys []string, rng *rand.Rand, freshData bool) (wall, cpu time.Duration) {
	ctx := context.Background()
	shared := make([]byte, size)
	for i := range shared {
		shared[i] = byte('a' + i%26)
	}
	var block []byte
	at := make([]uint32, len(keys)) // offset<<8 | length of each key in block
	for i, k := range keys {
		if len(k) > 255 || len(block) >= 1<<24 {
			b.Fatal("keys too long for the packed sequence")
		}
		at[i] = uint32(len(block))<<8 | uint32(len(k))
		block = append(block, k...)
	}
	seq := make([]uint32, n)
	for i := range seq {
		seq[i] = at[rng.IntN(len(keys))]
	}
	b.ResetTimer()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < n; i++ {
		data := shared
		if freshData {
			data = make([]byte, size)
			copy(data, shared)
		}
		pk := unsafe.String(&block[seq[i]>>8], seq[i]&0xff)
		p.PutAsync(ctx, kpl.Record{PartitionKey: pk, Data: data})
		if i == n/2 && n > 1 {
			if os.Getenv("KPL_BENCH_DIAG") != "" {
				st := p.Stats()
				fmt.Fprintf(os.Stderr, "DIAG halfway: %d records buffered (%d MiB charged), %d calls in flight (%d MiB)\n",
					st.BufferedRecords, st.BufferedBytes>>20, st.InFlightRequests, st.InFlightBytes>>20)
			}
			if f := os.Getenv("KPL_BENCH_HEAPPROFILE"); f != "" { // live heap with the buffer full
				runtime.GC()
				w, err := os.Create(f)
				if err == nil {
					pprof.WriteHeapProfile(w)
					w.Close()
				}
			}
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	wall, cpu = time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if os.Getenv("KPL_BENCH_DIAG") != "" {
		var ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(os.Stderr, "DIAG user %.3f sys %.3f us/rec, minflt %d, nvcsw %d, nivcsw %d, numgc %d, alloc %d B, calls %d\n",
			float64(ru1.Utime.Nano()-ru0.Utime.Nano())/1e3/float64(n), float64(ru1.Stime.Nano()-ru0.Stime.Nano())/1e3/float64(n),
			ru1.Minflt-ru0.Minflt, ru1.Nvcsw-ru0.Nvcsw, ru1.Nivcsw-ru0.Nivcsw, ms.NumGC, ms.TotalAlloc, p.Stats().PutRecordsCalls)
	}
	return wall, cpu
}

// sdkSerializer is a client whose PutRecords bodies are the SDK serializer's whatever per-call
// options the producer gives (KPL_BENCH_SDK_SERIALIZER=1, for comparison).
type sdkSerializer struct{ *kinesis.Client }

func (c sdkSerializer) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	protocol := c.Client.Options().Protocol
	return c.Client.PutRecords(ctx, in, append(optFns, func(o *kinesis.Options) { o.Protocol = protocol })...)
}

// startProducer starts the server process, creates a 4-shard stream and returns a producer for it
// (rate limiter off: the server has no limits) whose shard map is loaded.
func startProducer(b *testing.B, stream string, opts ...kpl.Option) *kpl.Producer {
	kc := processClient(startServerProcess(b))
	createStream(b, kc, stream, 4)
	var client kpl.KinesisAPI = kc
	if os.Getenv("KPL_BENCH_SDK_SERIALIZER") != "" {
		client = sdkSerializer{kc}
	}
	p, err := kpl.New(client, stream, append([]kpl.Option{kpl.RateLimit(0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	if _, err := p.Put(context.Background(), kpl.Record{PartitionKey: "warm", Data: []byte("up")}); err != nil {
		b.Fatal(err)
	}
	return p
}

func checkDelivered(b *testing.B, p *kpl.Producer, n int) {
	st := p.Stats()
	if st.RecordsFailed != 0 || st.RecordsDelivered != uint64(n)+1 {
		b.Fatalf("%d records delivered, %d failed; want %d delivered", st.RecordsDelivered, st.RecordsFailed, n+1)
	}
}

// BenchmarkProducerCPU100B: b.N records of 100 bytes, keys drawn from 100,000 random partition
// keys, aggregation on (the default); the producer's CPU time per record.
func BenchmarkProducerCPU100B(b *testing.B) {
	p := startProducer(b, "cpu")
	rng := rand.New(rand.NewPCG(1, 2))
	keys := randomKeys(rng, 100_000)
	resetPeakRSS()
	wall, cpu := produceTimed(b, p, b.N, 100, keys, rng, false)
	checkDelivered(b, p, b.N)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/record")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}

// memBound is BenchmarkProducerMemory1KiB's MaxBufferedBytes.
const memBound = 64 << 20

// BenchmarkProducerMemory1KiB: b.N records of 1 KiB, each in a fresh buffer, offered as fast as
// PutAsync takes them into a producer bounded by MaxBufferedBytes(64 MiB), rate limiter off; the
// peak RSS of the producer process, with GOMEMLIMIT at the bound + 16 MiB (as package kpl advises)
// and without, and the largest live heap after a collection (what the bound caps). It fails when
// the live heap passes the bound plus what the process held before (the benchmark's own 100,000
// keys and the SDK: the start figure) plus 16 MiB (objects allocated while a collection marks count
// as live in that cycle: at this allocation rate 4 to 12 MiB), or when, under GOMEMLIMIT, the peak RSS passes
// the start RSS plus the bound plus 32 MiB.
func BenchmarkProducerMemory1KiB(b *testing.B) {
	for _, mode := range []struct {
		name  string
		limit int64
	}{{"gomemlimit", memBound + 16<<20}, {"nolimit", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			if mode.limit > 0 {
				defer debug.SetMemoryLimit(debug.SetMemoryLimit(mode.limit))
			}
			p := startProducer(b, "mem", kpl.MaxBufferedBytes(memBound))
			rng := rand.New(rand.NewPCG(3, 4))
			keys := randomKeys(rng, 100_000)
			resetPeakRSS()
			base := peakRSS()
			runtime.GC()
			stop := watchLiveHeap()
			live0 := stop()
			stop = watchLiveHeap()
			wall, cpu := produceTimed(b, p, b.N, 1024, keys, rng, true)
			live := stop()
			checkDelivered(b, p, b.N)
			b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(live)/(1<<20), "peak-live-heap-MiB")
			b.ReportMetric(float64(live0)/(1<<20), "start-live-heap-MiB")
			b.ReportMetric(float64(base)/(1<<20), "start-RSS-MiB")
			b.ReportMetric(float64(memBound)/(1<<20), "bound-MiB")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "records/s")
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/record")
			if limit := live0 + memBound + 16<<20; live > limit {
				b.Errorf("peak live heap %d MiB passes the bound: start %d MiB + MaxBufferedBytes %d MiB + 16 MiB",
					live>>20, live0>>20, memBound>>20)
			}
			if rss := peakRSS(); mode.limit > 0 && rss > base+memBound+32<<20 {
				b.Errorf("peak RSS %d MiB passes start RSS %d MiB + MaxBufferedBytes %d MiB + 32 MiB",
					rss>>20, base>>20, memBound>>20)
			}
		})
	}
}
