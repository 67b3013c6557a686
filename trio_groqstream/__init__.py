"""Trio-native, structured-concurrency streaming client for Groq's chat completions.

::

    async with trio_groqstream.GroqClient() as client:
        async with trio_groqstream.open_stream(client, model=..., messages=[...]) as stream:
            async for chunk in stream:
                ...

The fake Groq server for tests lives in :mod:`trio_groqstream.testing` (not imported here).
"""

from ._accumulate import Accumulator as Accumulator
from ._accumulate import accumulate as accumulate
from ._batch import cancel_batch as cancel_batch
from ._batch import create_batch as create_batch
from ._batch import delete_file as delete_file
from ._batch import download_file as download_file
from ._batch import fetch_batch_results as fetch_batch_results
from ._batch import list_batches as list_batches
from ._batch import retrieve_batch as retrieve_batch
from ._batch import retrieve_file as retrieve_file
from ._batch import run_batch as run_batch
from ._batch import submit_batch as submit_batch
from ._batch import upload_batch_file as upload_batch_file
from ._batch import wait_for_batch as wait_for_batch
from ._batch_wire import BatchErrorEntry as BatchErrorEntry
from ._batch_wire import BatchErrors as BatchErrors
from ._batch_wire import BatchFailedError as BatchFailedError
from ._batch_wire import BatchJob as BatchJob
from ._batch_wire import BatchRequestCounts as BatchRequestCounts
from ._batch_wire import BatchRequestError as BatchRequestError
from ._batch_wire import FileObject as FileObject
from ._client import GroqClient as GroqClient
from ._client import StreamSettings as StreamSettings
from ._errors import APIConnectionError as APIConnectionError
from ._errors import APIStatusError as APIStatusError
from ._errors import APITimeoutError as APITimeoutError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import BadRequestError as BadRequestError
from ._errors import CapacityExceededError as CapacityExceededError
from ._errors import CompletionTooLargeError as CompletionTooLargeError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConflictError as ConflictError
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import EventTooLargeError as EventTooLargeError
from ._errors import FirstChunkTimeout as FirstChunkTimeout
from ._errors import GroqStreamError as GroqStreamError
from ._errors import IdleTimeout as IdleTimeout
from ._errors import IncompleteStreamError as IncompleteStreamError
from ._errors import InternalServerError as InternalServerError
from ._errors import NotFoundError as NotFoundError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import RateLimitError as RateLimitError
from ._errors import RequestTooLargeError as RequestTooLargeError
from ._errors import StreamAPIError as StreamAPIError
from ._errors import StreamProtocolError as StreamProtocolError
from ._errors import TotalTimeout as TotalTimeout
from ._errors import UnexpectedContentTypeError as UnexpectedContentTypeError
from ._errors import UnprocessableEntityError as UnprocessableEntityError
from ._fanout import FanoutEvent as FanoutEvent
from ._fanout import FanoutStream as FanoutStream
from ._fanout import gather as gather
from ._fanout import open_fanout as open_fanout
from ._fanout import race as race
from ._fanout import stream_to_channel as stream_to_channel
from ._params import ChatParams as ChatParams
from ._params import ChatRequest as ChatRequest
from ._ratelimit import RateLimits as RateLimits
from ._ratelimit import parse_go_duration as parse_go_duration
from ._sse import ServerSentEvent as ServerSentEvent
from ._sse import SSEDecoder as SSEDecoder
from ._stream import ChatStream as ChatStream
from ._stream import StreamMetrics as StreamMetrics
from ._stream import open_stream as open_stream
from ._version import __version__ as __version__
from ._wire import ChatCompletion as ChatCompletion
from ._wire import ChatCompletionChunk as ChatCompletionChunk
from ._wire import ChatCompletionMessage as ChatCompletionMessage
from ._wire import ChatCompletionMessageToolCall as ChatCompletionMessageToolCall
from ._wire import Choice as Choice
from ._wire import ChoiceDelta as ChoiceDelta
from ._wire import ChoiceDeltaFunctionCall as ChoiceDeltaFunctionCall
from ._wire import ChoiceDeltaToolCall as ChoiceDeltaToolCall
from ._wire import ChoiceDeltaToolCallFunction as ChoiceDeltaToolCallFunction
from ._wire import ChoiceLogprobs as ChoiceLogprobs
from ._wire import CompletionChoice as CompletionChoice
from ._wire import CompletionTokensDetails as CompletionTokensDetails
from ._wire import CompletionUsage as CompletionUsage
from ._wire import ErrorObject as ErrorObject
from ._wire import ExecutedTool as ExecutedTool
from ._wire import FunctionCall as FunctionCall
from ._wire import PromptTokensDetails as PromptTokensDetails
from ._wire import TokenLogprob as TokenLogprob
from ._wire import TopLogprob as TopLogprob
from ._wire import UsageBreakdown as UsageBreakdown
from ._wire import UsageBreakdownModel as UsageBreakdownModel
from ._wire import XGroq as XGroq

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Accumulator",
    "AuthenticationError",
    "BadRequestError",
    "BatchErrorEntry",
    "BatchErrors",
    "BatchFailedError",
    "BatchJob",
    "BatchRequestCounts",
    "BatchRequestError",
    "CapacityExceededError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatParams",
    "ChatRequest",
    "ChatStream",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "CompletionChoice",
    "CompletionTokensDetails",
    "CompletionTooLargeError",
    "CompletionUsage",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeout",
    "ErrorObject",
    "EventTooLargeError",
    "ExecutedTool",
    "FanoutEvent",
    "FanoutStream",
    "FileObject",
    "FirstChunkTimeout",
    "FunctionCall",
    "GroqClient",
    "GroqStreamError",
    "IdleTimeout",
    "IncompleteStreamError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "RateLimitError",
    "RateLimits",
    "RequestTooLargeError",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamAPIError",
    "StreamMetrics",
    "StreamProtocolError",
    "StreamSettings",
    "TokenLogprob",
    "TopLogprob",
    "TotalTimeout",
    "UnexpectedContentTypeError",
    "UnprocessableEntityError",
    "UsageBreakdown",
    "UsageBreakdownModel",
    "XGroq",
    "__version__",
    "accumulate",
    "cancel_batch",
    "create_batch",
    "delete_file",
    "download_file",
    "fetch_batch_results",
    "gather",
    "list_batches",
    "open_fanout",
    "open_stream",
    "parse_go_duration",
    "race",
    "retrieve_batch",
    "retrieve_file",
    "run_batch",
    "stream_to_channel",
    "submit_batch",
    "upload_batch_file",
    "wait_for_batch",
]
