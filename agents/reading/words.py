"""Word lists the reader matches: providers, tasks, domains, platform pieces, precisions.

Entries of the task and domain families are regex fragments matched at a word start
("retrain" is not "train"); a few also demand a word end ("servers" is not "serve").
"""

from __future__ import annotations

PROVIDER_WORDS = {
    "aws": ("aws", "amazon web services", "amazon", "ec2"),
    "gcp": ("gcp", "google cloud", "gce", "google compute engine"),
    "azure": ("azure", "microsoft cloud"),
    # Bare "lambda" is Lambda Labs unless AWS is named too (then it is AWS Lambda).
    "lambda": ("lambda labs", "lambda cloud", "lambdalabs", "lambda"),
    "oci": ("oci", "oracle cloud", "oracle"),
    "nebius": ("nebius",),
    "runpod": ("runpod",),
    "vast": ("vast.ai", "vastai", "vast ai"),
}
LAMBDA_LABS_EXPLICIT = ("lambda labs", "lambda cloud", "lambdalabs")

# Providers people name that the catalog does not price: key → how to say it.
UNKNOWN_PROVIDERS = {
    "paperspace": "Paperspace",
    "coreweave": "CoreWeave",
    "hetzner": "Hetzner",
    "ovhcloud": "OVHcloud",
    "ovh": "OVHcloud",
    "digitalocean": "DigitalOcean",
    "digital ocean": "DigitalOcean",
    "linode": "Linode",
    "akamai": "Akamai",
    "vultr": "Vultr",
    "scaleway": "Scaleway",
    "together ai": "Together AI",
    "fireworks": "Fireworks",
    "modal": "Modal",
    "replicate": "Replicate",
    "baseten": "Baseten",
    "fly.io": "Fly.io",
    "alibaba cloud": "Alibaba Cloud",
    "aliyun": "Alibaba Cloud",
    "ibm cloud": "IBM Cloud",
    "tencent cloud": "Tencent Cloud",
    "cudo": "CUDO Compute",
    "fluidstack": "FluidStack",
    "crusoe": "Crusoe",
    "tensordock": "TensorDock",
    "jarvislabs": "JarvisLabs",
    "genesis cloud": "Genesis Cloud",
    "voltage park": "Voltage Park",
    "hyperstack": "Hyperstack",
    "salad": "Salad",
}

# Ordered: the first family whose words appear decides, so specific words come first.
TASK_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fine_tuning", ("fine-tun", "finetun", "fine tun", "qlora", "lora", "sft", "instruction-tun")),
    (
        "training",
        ("train from scratch", "pretrain", "pre-train", "training", r"train\b", "from scratch"),
    ),
    ("rag", (r"rag\b", "retrieval augmented", "retrieval-augmented", "chat with our docs")),
    ("embedding", ("embedding", r"embed\b", "semantic search", "vector search")),
    (
        "batch",
        (
            "batch job",
            "batch inference",
            "offline processing",
            "nightly batch",
            r"batch\b",
            "nightly",
            r"(?:every|each|per) night\b",
            "overnight",
            "backfill",
            "no rush",
            # Work on a finite pile of data, done once: a backlog, an archive, recordings.
            "backlog",
            r"archives?\b",
            r"recorded (?:calls|audio|meetings|interviews|lectures)",
            r"(?:call|meeting|audio) recordings",
            # Number words are digits by now: "one-off" reads "1-off".
            r"(?:one|1)[- ]off\b",
            r"(?:one|1)[- ]time\b",
            r"(?<!at )once\b(?! (?:a|an|per|every)\b)",
        ),
    ),
    (
        "inference",
        (
            "inference",
            r"serv(e|es|ed|ing)\b",
            "deploy",
            r"host(s|ed|ing)?\b",
            "chatbot",
            "api for",
            "endpoint",
            "transcrib",
            "caption",
        ),
    ),
)
# Verbs that mean serving when nothing else says what the work is ("put X on Lambda", "run
# Phi-3 on a CPU"), but never override a task stated before ("run the evaluations" in a
# fine-tuning chat).
WEAK_INFERENCE_WORDS = (
    r"put\b(?=[^.]*\b(?:on|in|onto|behind)\b)",
    r"run(s|ning)?\b",
    "spin up",
    r"answers? questions",
    "price out",
)

DOMAIN_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "image_generation",
        (
            "stable diffusion",
            "sdxl",
            "text to image",
            "text-to-image",
            "image generation",
            "generate images",
            r"generat\w* (product )?(photos|pictures|images)",
            "flux",
            "diffusion",
        ),
    ),
    (
        "multimodal",
        ("vision language", "vision-language", "multimodal", "vlm", "llava"),
    ),
    (
        "speech",
        (
            "speech",
            "whisper",
            r"asr\b",
            "transcri",
            "text to speech",
            r"tts\b",
            "audio",
            "captioning",
            r"podcasts?\b",
            r"call recordings",
        ),
    ),
    ("embeddings", ("embedding", "semantic search", "vector search", "sentence similarity")),
    (
        "vision",
        (
            "computer vision",
            "image classif",
            "object detection",
            "segmentation",
            "yolo",
            "detection model",
            "resnet",
            "vision model",
            r"images\b",
            r"cameras?\b",
        ),
    ),
    (
        "nlp",
        (
            "classifier",
            "classification",
            r"classify\b",
            "sentiment",
            r"ner\b",
            "named entit",
            "entity extraction",
            "rerank",
            "re-rank",
            "cross-encoder",
            "distilbert",
            r"bert\b",
            "roberta",
            "translat",
        ),
    ),
    ("tabular", ("tabular", "xgboost", "time series", "forecast")),
    (
        "llm",
        (
            "llm",
            "language model",
            "chat",
            "llama",
            "mistral",
            "mixtral",
            "qwen",
            "gpt",
            "gemma",
            "text generation",
            "assistant",
            "deepseek",
            "phi-",
            r"answers? questions",
            "summari",
        ),
    ),
)

# Hub tasks the reader names from words, checked in order.
PIPELINE_TAG_WORDS: tuple[tuple[str, str], ...] = (
    ("text-to-speech", r"\b(text[ -]to[ -]speech|tts|voice synthesis|speech synthesis)\b"),
    (
        "automatic-speech-recognition",
        r"\b(transcrib\w*|speech recognition|speech[ -]to[ -]text|asr|captioning)\b",
    ),
    ("token-classification", r"\b(ner|named entit\w*|entity extraction|token classification)\b"),
    ("translation", r"\btranslat\w*\b"),
    ("text-classification", r"\b(sentiment|classifier|classify|text classification|rerank\w*)\b"),
)

KUBERNETES_WORDS = {
    "mlflow": ("mlflow", "experiment tracking"),
    "monitoring": ("monitoring", "prometheus", "grafana", "observability", "metrics"),
    # A vector database the user names wins over the default one.
    "qdrant": ("qdrant",),
    "milvus": ("milvus",),
    "vector_db": ("vector db", "vector database", "weaviate", "pgvector"),
    "ray": ("ray cluster", "kuberay", " ray "),
    "airflow": ("airflow",),
    "jupyterhub": ("jupyter",),
    "redis": ("redis",),
    "postgresql": ("postgres",),
}

PRECISION_PATTERNS = (
    ("int4", r"\b(int4|4-?bit|awq|gptq|q4)\b"),
    ("int8", r"\b(int8|8-?bit)\b"),
    ("fp8", r"\bfp8\b"),
    ("bf16", r"\bbf16\b|\bbfloat16\b"),
    ("fp16", r"\bfp16\b|\bfloat16\b|\bhalf precision\b"),
    ("fp32", r"\bfp32\b|\bfloat32\b|\bfull precision\b"),
)
