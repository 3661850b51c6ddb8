# The record processor of BenchmarkMultilangChild/python, on the Python client amazon_kclpy (its source
# named by SHARDWISE_KCLPY): it decodes every record's data, counts the bytes, and checkpoints the last
# record of each batch, as bench_consumer.js does.
from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor


class BenchProcessor(processor.RecordProcessorBase):
    def __init__(self):
        self.bytes = 0

    def initialize(self, initialize_input):
        pass

    def process_records(self, process_records_input):
        last = None
        for record in process_records_input.records:
            self.bytes += len(record.binary_data)
            last = record
        if last is not None:
            process_records_input.checkpointer.checkpoint(last.sequence_number, last.sub_sequence_number)

    def lease_lost(self, lease_lost_input):
        pass

    def shard_ended(self, shard_ended_input):
        shard_ended_input.checkpointer.checkpoint()

    def shutdown_requested(self, shutdown_requested_input):
        shutdown_requested_input.checkpointer.checkpoint()


if __name__ == "__main__":
    kcl.KCLProcess(BenchProcessor()).run()
