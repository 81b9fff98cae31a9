# coding=utf-8
"""SimMemRE model configuration (Hub remote code: imports only transformers and the standard library)."""

import difflib
import inspect
import math
import numbers

from transformers import PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

RELATION_CLASSIFIERS = ("multi_instance", "global")
COREFERENCE_LINKAGES = ("complete", "average", "single")
CLASSIFIER_TYPES = ("similarity", "mlp")
MEMORY_READ_POSITIONS = ("tokens", "spans")
MEMORY_READ_MODES = ("mean", "sum", "scaled", "residual")
MEMORY_READ_TEMPERATURES = ("fixed", "learned")
# Encoders that number positions from padding_idx + 1, so that their usable length is max_position_embeddings minus
# padding_idx + 1 (RoBERTa-style, after fairseq).
OFFSET_POSITION_MODEL_TYPES = (
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "longformer",
    "mpnet",
    "roberta-prelayernorm",
    "data2vec-text",
    "xmod",
    "ibert",
    "luke",
    "markuplm",
)
# Encoders whose hidden states of real tokens depend on padding in the same batch (FNet mixes every position by
# Fourier transform and ignores the attention mask; Funnel's pooling and ConvBERT's convolutions reach a little across
# it): a window of theirs is encoded alone, so a document scores the same whatever other documents share its batch.
PADDING_LEAKING_MODEL_TYPES = ("fnet", "funnel", "convbert")
# Aliases of encoder config keys for configs whose class is not registered in transformers (remote code).
ENCODER_ATTRIBUTE_ALIASES = {
    "hidden_size": (("dim", "hidden_size"), ("d_model", "hidden_size"), ("n_embd", "hidden_size")),
    "max_position_embeddings": (("n_positions", "max_position_embeddings"),),
}
# Document-level inference caps, in the order of the cap index of a prediction's `truncated` rows.
DOCUMENT_CAPS = (
    "max_mentions_per_word",
    "max_mentions_per_document",
    "max_entity_pairs_per_document",
    "max_relations_per_document",
)


# On/off switches: checked as bools, since bool("no") is True (a command line's "--model.flat_mentions no").
FLAGS = (
    "encoder_trust_remote_code",
    "abbreviation_coreference",
    "word_form_coreference",
    "mention_string_propagation",
    "flat_mentions",
    "jerex_baseline",
    "use_entity_memory",
    "use_relation_memory",
    "memory_read_gradient",
    "memory_reads_enabled",
)
# Sizes that must be positive integers.
POSITIVE_INTEGER_FIELDS = (
    "max_span_size",
    "meta_embedding_size",
    "size_embeddings_count",
    "edit_distance_embeddings_count",
    "token_distance_embeddings_count",
    "sentence_distance_embeddings_count",
    "span_chunk_size",
    "coref_pair_chunk_size",
    "relation_mention_pair_chunk_size",
    "encoder_batch_windows",
)
# Numeric fields, kept as plain Python numbers (a numpy scalar from a threshold grid is neither JSON-safe nor an int).
NUMBER_FIELDS = POSITIVE_INTEGER_FIELDS + (
    "mention_threshold",
    "coref_threshold",
    "relation_threshold",
    "entity_threshold",
    "max_mentions_per_word",
    "max_mentions_per_document",
    "max_entity_pairs_per_document",
    "max_relations_per_document",
    "mention_string_propagation_min_length",
    "dropout",
    "mention_loss_weight",
    "coref_loss_weight",
    "entity_loss_weight",
    "relation_loss_weight",
    "entity_memory_slot_size",
    "relation_memory_slot_size",
    "memory_warmup_proportion",
    "encoder_window_size",
    "encoder_window_overlap",
    "cls_token_id",
    "sep_token_id",
    "initializer_range",
)


def _flag(field: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if getattr(value, "dtype", None) is not None and getattr(value, "shape", None) == () and value.dtype.kind == "b":
        return bool(value)  # a numpy bool
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ValueError(f"SimMemREConfig.{field}: must be true or false, got {value!r}")


def _plain_number(value):
    """numpy scalars as Python numbers; anything else (None, bools, strings) as it is."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float, not a bool (True would read as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _word_list(words):
    if isinstance(words, (set, frozenset)):
        return sorted(words)
    return list(words) if isinstance(words, (list, tuple)) else words


def _type_names(field: str, values, noun: str = "type names") -> list:
    """A label list as a list; a bare string would become one type per letter (`"CID"` -> C, I, D), and a set has
    another order in every process (memory slot k is type k)."""
    if isinstance(values, str):
        raise ValueError(f"SimMemREConfig.{field}: a list of {noun} (e.g. [{values!r}]), got the string {values!r}")
    if isinstance(values, (set, frozenset)):
        raise ValueError(f"SimMemREConfig.{field}: an ordered list, got a set {values!r} (its order varies by process)")
    return [] if values is None else list(values)


class SimMemREConfig(PretrainedConfig):
    r"""
    Configuration of [`SimMemREModel`]: a BERT-like encoder plus the four JEREX task heads (mention localization,
    coreference, entity classification, relation classification) and the similarity memory of Kościukiewicz et al.
    (2023). Defaults follow the JEREX / paper code (JEREX `configs/` and the paper's CDR config), except the memory
    read (`sum`, chosen on dev; `mean` is the paper's) and the inference cap `max_mentions_per_word` (0.5; JEREX has
    none). A keyword that is no setting but close to one (`memroy_read_mode`) is refused; other unknown keywords stay
    attributes (transformers).

    Args:
        encoder_config (`dict`): the encoder's config as a dict (`AutoConfig.for_model(**encoder_config)` rebuilds it).
            Any BERT-like encoder works (MiniLM, bert-base-cased, SciBERT).
        encoder_trust_remote_code (`bool`, False): the encoder ships its own code (its config has an `auto_map`);
            that code is copied into every saved folder and run when the model is built. Set by
            `SimMemREModel.from_encoder(..., trust_remote_code=True)`.
        entity_types (`list[str]`, []), relation_types (`list[str]`, []): ordered label lists (memory slot k = type
            k); a model needs at least one entity type.
        max_span_size (`int`, 10): longest candidate mention in words.
        meta_embedding_size (`int`, 25): size of the span-size, edit-distance, token-distance, sentence-distance and
            (JEREX baseline only) entity-type embeddings.
        size_embeddings_count (`int`, 30), edit_distance_embeddings_count (`int`, 300),
        token_distance_embeddings_count (`int`, 700), sentence_distance_embeddings_count (`int`, 50): embedding table
            sizes. Larger distances are clamped to the last row (JEREX raised an IndexError instead).
        mention_threshold (`float`, 0.85), coref_threshold (`float`, 0.85), relation_threshold (`float`, 0.6):
            inference thresholds.
        entity_threshold (`float`, 0.0): inference keeps an entity only when its highest-scoring mention reaches this
            mention probability; its mentions and relations go with it. Mentions join clusters at `mention_threshold`
            (recall: strict scoring needs every mention of an entity), while an entity of weak mentions alone, usually
            a false positive, is dropped. 0 keeps every entity (JEREX).
        max_mentions_per_word (`float` or None, 0.5): inference keeps at most ceil(this x words) mentions per document,
            the highest-scoring ones. JEREX has no cap; a half-trained model can pass thousands of spans over the
            threshold, and coreference and relation pairs grow quadratically in them. 0.5 is above every gold BC5CDR
            train and Re-DocRED dev document (mean 0.10 and 0.13 mentions per whitespace word, densest document 0.30
            and 0.25). None disables the cap.
        max_mentions_per_document (`int` or None, 2048), max_entity_pairs_per_document (`int` or None, 50000),
        max_relations_per_document (`int` or None, 100000): document-level inference caps, so that time and memory
            stay bounded at any thresholds (at mention / coreference / relation thresholds 0 / 1 / 0 every candidate
            span is a mention, every mention an entity, and every entity pair and type a relation; intermediate
            thresholds, with few entities of many mentions, cost more time but stay within the caps, the mention
            pairs of one entity pair pooled in blocks of `relation_mention_pair_chunk_size`). JEREX has none.
            When a cap binds, a warning is logged and the document's prediction gets `"truncated"`, a LongTensor
            of rows (cap index in `DOCUMENT_CAPS`, limit, found, kept); the pipeline's output document gets
            `"truncated": [{"cap", "limit", "found", "kept"}]`. Caps are never silent (`max_mentions_per_word`
            included). None disables a cap. What is kept when a cap binds:
            - mentions: the highest mention scores (the same rule as `max_mentions_per_word`; the smaller of the two
              limits applies). They bound the coreference pairs, n(n-1)/2 (2048 mentions: 2.1 M pairs, scored in
              blocks of `coref_pair_chunk_size`) and the mention pairs of relation classification;
            - entity pairs (unordered; each is scored in both directions): the pairs whose nearest mentions are the
              fewest sentences apart, then the highest product of the two entities' best mention scores, then text
              order. Relations are local: in Re-DocRED dev and test gold (34,732 relations), the head's and tail's
              nearest mentions share a sentence in 47% of relations and are at most 2 sentences apart in 79% (of
              all dev entity pairs: 23% and 63%), so in a long document the nearest pairs hold most relations. The
              choice needs no relation score, so no pair is scored only to be dropped;
            - relations: the highest relation scores (ties: head, tail, type order). So the relations kept at a
              threshold t are exactly those above t as long as no more than the cap pass t: threshold calibration
              that filters one low-threshold run stays exact. The cap bounds the output (a 100,000-relation
              document is about 50 MB of Python dicts); pair scores are already bounded by the entity-pair cap.
            The defaults never bind on gold-sized documents (BC5CDR train/dev/test and Re-DocRED dev/test have at
            most 69 mentions, 42 entities = 861 entity pairs and 132 relations per document), and keep a
            20,000-word document at thresholds 0 / 1 / 0 under 4 GB on a 2-core machine with a MiniLM-size encoder
            (`benchmarks/bench_long_document.py --worst-case`).
        abbreviation_coreference (`bool`, False): after clustering, merge the clusters of an abbreviation's short
            form and its long form, for each "long form (SHORT)" definition found in the document by the Schwartz &
            Hearst (2003) algorithm (`find_abbreviations` in the modeling file). Inference only.
        word_form_coreference (`bool`, False): after clustering, merge the clusters of mentions written as word forms
            of one another: equal once lower-cased, stripped of everything but letters and digits, and cut by one
            inflectional or derivational suffix ("seizure"/"seizures", "hypertension"/"hypertensive",
            "toxicity"/"toxicities"; `word_form_key` in the modeling file). English suffixes; inference only.
        coreference_lexicon (`list[list[str]]`, []): groups of mention strings known to name one entity, each string
            lower-cased and single-spaced (`lexicon_key` in the modeling file): after clustering, the clusters of
            mentions whose strings fall in one group merge, where a document writes two or more of its strings
            ("pruritus" and "itching", "dopamine" and "DA"). Derived from a training corpus's gold clusters by
            `coreference_lexicon` (data module). Inference only.
        non_initial_words (`list[str]`, []), non_final_words (`list[str]`, []): lower-cased words that no mention
            begins (ends) with; candidate spans that begin (end) with one are not scored. Derived from a training
            corpus by `boundary_words` (data module): the words seen at least `min_count` times there that never
            begin (end) a gold mention. On BC5CDR (min count 100: about 100 words each, "the", "of", "and", "in",
            ...) they leave a third of the candidate spans to score. Inference only; the memory read over candidate
            spans still normalises over all of them, so a kept span scores exactly as without the lists.
        relation_argument_types (`dict[str, list[list[str]]]`, {}): for each relation type, the (head entity type,
            tail entity type) pairs it may join, e.g. `{"CID": [["Chemical", "Disease"]]}`; derived from a training
            corpus by `relation_argument_types` (data module). Entity pairs whose predicted types no relation type
            admits (in either direction) are not scored, and a relation whose arguments' types it does not admit is
            not predicted (a relation type the dict does not name may join any types). Strict scoring counts a
            relation only with both entity types right, so no strict hit is lost. Empty (JEREX): every pair is
            scored. Inference only.
        mention_string_propagation (`bool`, False): after the entity threshold, each further occurrence of a kept
            mention's string (whole words, the same characters; a capital first letter followed by a lower-case one
            matches its lower-case form, so "Lithium" at a sentence start matches "lithium") that overlaps no kept
            mention becomes a mention of that entity. Strings that two entities share, and strings shorter than
            `mention_string_propagation_min_length` characters, are not propagated. For corpora that annotate every
            occurrence of an entity (BC5CDR: strict scoring needs every mention of a cluster). Propagated mentions
            score the model's probability for their span (0 where the span was not a candidate); relations are
            those of the clusters before propagation. Inference only.
        mention_string_propagation_min_length (`int`, 2): the shortest string that `mention_string_propagation`
            propagates, in characters.
        flat_mentions (`bool`, False): keep no two overlapping mentions: among the candidates above the mention
            threshold, the highest-scoring first, then each next one that overlaps none kept (greedy flat decoding).
            For corpora whose mentions never overlap (BC5CDR); JEREX keeps overlapping spans. Inference only.
        coreference_linkage (`str`, "complete"): how mention clusters merge, agglomeratively on the coreference
            probabilities, while the linkage between two clusters exceeds `coref_threshold`: "complete" (JEREX: the
            lowest pair decides), "average" (the mean over cross pairs) or "single" (the highest pair: clusters are
            the connected components of the pairs above the threshold). Inference only.
        dropout (`float`, 0.1): dropout of all task heads.
        mention_loss_weight, coref_loss_weight, entity_loss_weight, relation_loss_weight (`float`, 1, 1, 0.25, 1): β.
        relation_classifier (`str`, "multi_instance"): "multi_instance" (MRC, JEREX proper) or "global" (GRC).
        classifier_type (`str`, "similarity"): "similarity" = bilinear S(x, M) = M Wᵀx against the memories (paper);
            "mlp" = JEREX's entity MLP, linear relation classifier and learned type embeddings.
        use_entity_memory, use_relation_memory (`bool`, True): read from M_E / M_R (paper eq. 1-2).
        memory_read_positions (`list[str]`, ["tokens", "spans"]): where reads enhance representations.
        entity_memory_slot_size, relation_memory_slot_size (`int`, None = encoder hidden size): s_E, s_R.
        memory_read_mode (`str`, "sum"): how a read enhances X (N positions, K slots per memory, a = Σ_k softmax_n):
            "sum" = X ⊙ (1 + a_E + a_R): rows scaled by 1 + (K_E + K_R)/N on average whatever the attention, so
            close to X when the slots are few against the positions (CDR: 3 slots, N ≈ 300 tokens, 1,830 spans: about
            1.01). The default and the main job's read: there training does not jump when the reads switch on after
            the warm-up. With many relation types (Re-DocRED: 102 slots, N ≈ 250) it scales rows by about 1.4, and
            spans differently in training (sampled) than at inference (all candidates); "scaled" has no N dependence;
            "mean" = mean(X, diag(a_E)X, diag(a_R)X), the paper's eq. 1-2: set it to reproduce the paper. At
            near-uniform attention it only shrinks X (a ≈ K/N), by 1/3 per read;
            "scaled" = mean(X, diag(a_E N/K)X, diag(a_R N/K)X): attention relative to uniform, so X at uniform
            attention and independent of how many positions are read (sampled spans in training, all candidates at
            inference);
            "residual" = X + Σ_M W_o,M softmax_k(X W_readᵀ Mᵀ) M: a key-value read over slots that adds the type
            prototypes, W_o initialised to zero so it starts as the identity. A saved config from before this field
            existed loads as "mean", the read its model was trained with.
        memory_read_temperature (`str`, "fixed"): "fixed" reads the scores m_k W_read Xᵀ as they are (paper eq. 1);
            "learned" multiplies them by a learned inverse temperature per memory (initialised to 1), so training can
            sharpen the softmax over positions: over thousands of candidate spans a near-uniform read leaves the
            rows' scale within about 1 % of 1 on average (screened on CDR dev: not kept, docs/results.md).
        memory_read_gradient (`bool`, True): whether reads pass gradient into the memory matrices. The classifiers
            always train the memories (the paper code detaches them only inside the reads).
        memory_warmup_proportion (`float`, 0.4; the paper's CDR config uses 0.5): fraction of training steps before
            reads switch on (used by the trainer).
        memory_reads_enabled (`bool`, True): the warm-up switch. The trainer turns it off during stage 1 and on after,
            and a checkpoint saved during stage 1 keeps it off, so it is evaluated the way dev selection measured it.
        jerex_baseline (`bool`, False): shortcut for the paper's baseline — both memories off and
            `classifier_type="mlp"`.
        span_chunk_size (`int`, 1024), coref_pair_chunk_size (`int`, 8192), relation_mention_pair_chunk_size (`int`,
            4096): how many candidate spans / coreference pairs / MRC mention pairs are processed at once. They bound
            memory and never change results.
        encoder_window_size (`int`, None = the encoder's positions - 2 for [CLS]/[SEP]; RoBERTa-style encoders also
            lose padding_idx + 1, e.g. 510 of 514),
        encoder_window_overlap (`int`, None = min(128, window/4)),
        encoder_batch_windows (`int`, None = 16, or 1 for encoders that let padding through: FNet, Funnel, ConvBERT):
            long documents are encoded in overlapping windows of this many subwords (plus [CLS]/[SEP]), starting
            every window - overlap subwords, the last one ending at the document's end; overlapping token
            embeddings are averaged, `encoder_batch_windows` windows per encoder call. The
            embeddings depend on the window (MiniLM on BC5CDR against one 510-subword pass: mean cosine 0.83 at
            126-subword windows, 0.89 at 254), so keep the window a model was trained with.
        initializer_range (`float`, 0.02): standard deviation of the normal initialisation of the heads, memories
            and memory readers (the encoder's own weights come from its checkpoint).
        cls_token_id, sep_token_id, pad_token_id (`int`): special tokens of the encoder's tokenizer; each window is
            framed by CLS ... SEP (`from_encoder` takes BOS/EOS for a tokenizer without CLS/SEP).
    """

    model_type = "simmemre"
    document_caps = DOCUMENT_CAPS  # class attribute: not serialised

    def __init__(
        self,
        encoder_config=None,
        encoder_trust_remote_code=False,
        entity_types=None,
        relation_types=None,
        max_span_size=10,
        meta_embedding_size=25,
        size_embeddings_count=30,
        edit_distance_embeddings_count=300,
        token_distance_embeddings_count=700,
        sentence_distance_embeddings_count=50,
        mention_threshold=0.85,
        coref_threshold=0.85,
        relation_threshold=0.6,
        entity_threshold=0.0,
        max_mentions_per_word=0.5,
        max_mentions_per_document=2048,
        max_entity_pairs_per_document=50000,
        max_relations_per_document=100000,
        abbreviation_coreference=False,
        word_form_coreference=False,
        non_initial_words=None,
        non_final_words=None,
        relation_argument_types=None,
        coreference_lexicon=None,
        mention_string_propagation=False,
        mention_string_propagation_min_length=2,
        flat_mentions=False,
        coreference_linkage="complete",
        dropout=0.1,
        mention_loss_weight=1.0,
        coref_loss_weight=1.0,
        entity_loss_weight=0.25,
        relation_loss_weight=1.0,
        relation_classifier="multi_instance",
        classifier_type=None,
        use_entity_memory=None,
        use_relation_memory=None,
        memory_read_positions=("tokens", "spans"),
        entity_memory_slot_size=None,
        relation_memory_slot_size=None,
        memory_read_mode=None,
        memory_read_temperature="fixed",
        memory_read_gradient=True,
        memory_warmup_proportion=0.4,
        memory_reads_enabled=True,
        jerex_baseline=False,
        span_chunk_size=1024,
        coref_pair_chunk_size=8192,
        relation_mention_pair_chunk_size=4096,
        encoder_window_size=None,
        encoder_window_overlap=None,
        encoder_batch_windows=None,
        cls_token_id=None,
        sep_token_id=None,
        initializer_range=0.02,
        **kwargs,
    ):
        if "transformers_version" not in kwargs:  # built in code, not read from a saved config.json
            _refuse_misspelled_arguments(kwargs)
        if encoder_config is not None and not isinstance(encoder_config, dict):
            encoder_config = encoder_config.to_dict()
        # Label maps belong to task heads, not to the encoder (and their int keys would not survive JSON).
        self.encoder_config = {k: v for k, v in (encoder_config or {}).items() if k not in ("id2label", "label2id")}
        self.encoder_trust_remote_code = _flag("encoder_trust_remote_code", encoder_trust_remote_code)
        self.entity_types = _type_names("entity_types", entity_types)
        self.relation_types = _type_names("relation_types", relation_types)
        self.max_span_size = max_span_size
        self.meta_embedding_size = meta_embedding_size
        self.size_embeddings_count = size_embeddings_count
        self.edit_distance_embeddings_count = edit_distance_embeddings_count
        self.token_distance_embeddings_count = token_distance_embeddings_count
        self.sentence_distance_embeddings_count = sentence_distance_embeddings_count
        self.mention_threshold = mention_threshold
        self.coref_threshold = coref_threshold
        self.relation_threshold = relation_threshold
        self.entity_threshold = entity_threshold
        self.max_mentions_per_word = max_mentions_per_word
        self.max_mentions_per_document = max_mentions_per_document
        self.max_entity_pairs_per_document = max_entity_pairs_per_document
        self.max_relations_per_document = max_relations_per_document
        self.abbreviation_coreference = _flag("abbreviation_coreference", abbreviation_coreference)
        self.word_form_coreference = _flag("word_form_coreference", word_form_coreference)
        # A bare string stays as given, so validation names the field instead of splitting it into letters.
        self.non_initial_words = [] if non_initial_words is None else _word_list(non_initial_words)
        self.non_final_words = [] if non_final_words is None else _word_list(non_final_words)
        self.relation_argument_types = {} if relation_argument_types is None else relation_argument_types
        self.coreference_lexicon = [] if coreference_lexicon is None else coreference_lexicon
        self.mention_string_propagation = _flag("mention_string_propagation", mention_string_propagation)
        self.mention_string_propagation_min_length = mention_string_propagation_min_length
        self.flat_mentions = _flag("flat_mentions", flat_mentions)
        self.coreference_linkage = coreference_linkage
        self.dropout = dropout
        self.mention_loss_weight = mention_loss_weight
        self.coref_loss_weight = coref_loss_weight
        self.entity_loss_weight = entity_loss_weight
        self.relation_loss_weight = relation_loss_weight
        self.jerex_baseline = _flag("jerex_baseline", jerex_baseline)
        # The baseline fills in what the caller left unset; a contradicting value is refused by the validation.
        self.relation_classifier = relation_classifier
        # None (left out) takes the default; any other value is checked, so "" or 0 is refused, not read as unset.
        if classifier_type is None:
            classifier_type = "mlp" if self.jerex_baseline else "similarity"
        self.classifier_type = classifier_type
        default_memory = not self.jerex_baseline
        self.use_entity_memory = _flag(
            "use_entity_memory", default_memory if use_entity_memory is None else use_entity_memory
        )
        self.use_relation_memory = _flag(
            "use_relation_memory", default_memory if use_relation_memory is None else use_relation_memory
        )
        positions = memory_read_positions
        positions = sorted(positions) if isinstance(positions, (set, frozenset)) else positions  # order is immaterial
        self.memory_read_positions = _type_names("memory_read_positions", positions, "positions")
        self.entity_memory_slot_size = entity_memory_slot_size
        self.relation_memory_slot_size = relation_memory_slot_size
        if memory_read_mode is None and "transformers_version" in kwargs:
            # A config saved before the field existed: its model read memory as the paper does.
            logger.info("SimMemREConfig: a saved config without memory_read_mode; its model's read, 'mean'")
            memory_read_mode = "mean"
        self.memory_read_mode = "sum" if memory_read_mode is None else memory_read_mode
        self.memory_read_temperature = memory_read_temperature
        self.memory_read_gradient = _flag("memory_read_gradient", memory_read_gradient)
        self.memory_warmup_proportion = memory_warmup_proportion
        self.memory_reads_enabled = _flag("memory_reads_enabled", memory_reads_enabled)
        self.span_chunk_size = span_chunk_size
        self.coref_pair_chunk_size = coref_pair_chunk_size
        self.relation_mention_pair_chunk_size = relation_mention_pair_chunk_size
        self.encoder_window_size = encoder_window_size
        self.encoder_window_overlap = encoder_window_overlap
        if encoder_batch_windows is None:
            # Windows padded beside others would change these encoders' states of real tokens (FNet: mention scores up
            # to 0.05 apart), so they get one window per call.
            leaking = self.encoder_config.get("model_type") in PADDING_LEAKING_MODEL_TYPES
            encoder_batch_windows = 1 if leaking else 16
        self.encoder_batch_windows = encoder_batch_windows
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.initializer_range = initializer_range
        kwargs.setdefault("pad_token_id", self.encoder_config.get("pad_token_id", 0))
        super().__init__(**kwargs)
        self.validate_hyperparameters()

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """PretrainedConfig.from_dict, refusing an override close to a setting's name as the constructor does:
        `from_pretrained(folder, mention_treshold=0.3)` was dropped silently, and the folder's threshold kept."""
        return_unused_kwargs = kwargs.pop("return_unused_kwargs", False)
        config, unused = super().from_dict(config_dict, return_unused_kwargs=True, **kwargs)
        _refuse_misspelled_arguments(unused)
        return (config, unused) if return_unused_kwargs else config

    def encoder_attribute(self, name, default=None):
        """An attribute of the encoder config read the way transformers reads it: through the config class's
        `attribute_map` (DistilBERT stores `hidden_size` as `dim`), falling back to the raw dict."""
        if name in self.encoder_config:
            return self.encoder_config[name]
        for alias, target in ENCODER_ATTRIBUTE_ALIASES.get(name, ()):
            if alias in self.encoder_config:
                return self.encoder_config[alias]
        model_type = self.encoder_config.get("model_type")
        if model_type:
            try:
                from transformers import CONFIG_MAPPING

                attribute_map = getattr(CONFIG_MAPPING[model_type], "attribute_map", {}) or {}
            except (KeyError, ImportError):  # a remote-code encoder: its class is not registered here
                attribute_map = {}
            target = attribute_map.get(name)
            if target is not None and target in self.encoder_config:
                return self.encoder_config[target]
        return default

    @property
    def hidden_size(self) -> int:
        return int(self.encoder_attribute("hidden_size", 0) or 0)

    @property
    def entity_slot_size(self) -> int:
        return self.entity_memory_slot_size or self.hidden_size

    @property
    def relation_slot_size(self) -> int:
        return self.relation_memory_slot_size or self.hidden_size

    @property
    def uses_memory_reads(self) -> bool:
        return bool(self.memory_read_positions) and (self.use_entity_memory or self.use_relation_memory)

    @property
    def window_size(self) -> int:
        """Subwords per encoder window, without the [CLS]/[SEP] the model adds."""
        if self.encoder_window_size:
            return int(self.encoder_window_size)
        return self.encoder_window_limit

    @property
    def encoder_window_limit(self) -> int:
        """The most subwords per window that the encoder's position table holds, besides [CLS]/[SEP]."""
        positions = int(self.encoder_attribute("max_position_embeddings", 512) or 512)
        if self.encoder_config.get("model_type") in OFFSET_POSITION_MODEL_TYPES:
            # These models number positions from padding_idx + 1 (fairseq's convention), so a 514-position RoBERTa
            # holds 512 tokens. MPNet's padding_idx is 1 whatever its config's pad_token_id says.
            padding_idx = (
                1 if self.encoder_config.get("model_type") == "mpnet" else self.encoder_config.get("pad_token_id", 1)
            )
            positions -= int(padding_idx or 0) + 1
        return positions - 2  # [CLS] and [SEP] (or <s> and </s>)

    @property
    def window_overlap(self) -> int:
        if self.encoder_window_overlap is not None:
            return int(self.encoder_window_overlap)
        return min(128, self.window_size // 4)

    def _check_token_ids(self, fail):
        """The ids the model puts into the encoder's input: within its vocabulary (an id beyond it failed at the first
        prediction with an IndexError from the embedding lookup)."""
        vocabulary = self.encoder_attribute("vocab_size") if self.encoder_config else None
        for field in ("cls_token_id", "sep_token_id", "pad_token_id"):
            value = getattr(self, field, None)
            if value is None:
                continue
            if not _is_integer(value) or value < 0 or (_is_integer(vocabulary) and value >= vocabulary):
                fail(field, f"must be None or a token id in [0, {vocabulary}), got {value!r}")

    def _check_relation_argument_types(self, fail):
        signatures = self.relation_argument_types
        if not isinstance(signatures, dict):
            fail(
                "relation_argument_types",
                f"must be a dict of relation type -> [[head type, tail type], ...], got {signatures!r}",
            )
        for relation, pairs in signatures.items():
            if relation not in self.relation_types:
                fail(
                    "relation_argument_types",
                    f"unknown relation type {relation!r}; relation_types: {self.relation_types}",
                )
            if not isinstance(pairs, (list, tuple)) or not all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and all(t in self.entity_types for t in pair)
                for pair in pairs
            ):
                fail(
                    "relation_argument_types",
                    f"{relation!r}: expected [[head type, tail type], ...] of entity_types {self.entity_types}, "
                    f"got {pairs!r}",
                )

    def _check_coreference_lexicon(self, fail):
        lexicon = self.coreference_lexicon
        if not isinstance(lexicon, (list, tuple)):
            fail("coreference_lexicon", f"must be a list of groups of mention strings, got {lexicon!r:.80}")
        seen = {}
        for number, group in enumerate(lexicon):
            if not isinstance(group, (list, tuple)) or len(group) < 2:
                fail("coreference_lexicon", f"group {number}: a list of two or more strings, got {group!r:.80}")
            for string in group:
                # the form lexicon_key (modeling file) gives: lower-cased, single-spaced, trimmed
                if not isinstance(string, str) or not string or string != " ".join(string.lower().split()):
                    fail(
                        "coreference_lexicon",
                        f"group {number}: {string!r:.60} is not a lower-cased, single-spaced, trimmed string",
                    )
                if seen.setdefault(string, number) != number:
                    fail("coreference_lexicon", f"{string!r:.60} is in groups {seen[string]} and {number}")

    def validate(self):
        """transformers' check before `save_pretrained`: a config changed after construction (`config.update`,
        attribute assignment) is saved only if it can be loaded again."""
        parent = getattr(super(), "validate", None)
        if parent is not None:
            parent()
        self.validate_hyperparameters()

    def validate_hyperparameters(self):
        """Raise `ValueError` naming the offending field if a value cannot work. numpy scalars become Python numbers."""

        def fail(field, message):
            raise ValueError(f"SimMemREConfig.{field}: {message}")

        for field in NUMBER_FIELDS:
            setattr(self, field, _plain_number(getattr(self, field)))
        for field in FLAGS:
            setattr(self, field, _flag(field, getattr(self, field)))
        if self.encoder_config and not self.encoder_config.get("model_type"):
            fail("encoder_config", "has no 'model_type' (build it with an encoder config's to_dict())")
        if self.encoder_config and not self.hidden_size:
            fail(
                "encoder_config",
                "must be an encoder config dict with a hidden size ('hidden_size', or an alias "
                "in its config class's attribute_map such as DistilBERT's 'dim')",
            )
        for field in ("entity_types", "relation_types"):
            values = getattr(self, field)
            if not all(isinstance(v, str) and v for v in values):
                fail(field, f"must be a list of non-empty strings, got {values!r}")
            if len(set(values)) != len(values):
                fail(field, f"contains duplicates: {values!r}")
        for field in POSITIVE_INTEGER_FIELDS:
            value = getattr(self, field)
            if not _is_integer(value) or value < 1:
                fail(field, f"must be a positive integer, got {value!r}")
        if self.size_embeddings_count <= self.max_span_size:
            fail(
                "size_embeddings_count",
                f"must exceed max_span_size ({self.max_span_size}), got {self.size_embeddings_count}",
            )
        for field in (
            "mention_threshold",
            "coref_threshold",
            "relation_threshold",
            "entity_threshold",
            "memory_warmup_proportion",
        ):
            value = getattr(self, field)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                fail(field, f"must be a number in [0, 1], got {value!r}")
        cap = self.max_mentions_per_word
        if cap is not None and (not _is_number(cap) or cap <= 0):
            fail("max_mentions_per_word", f"must be a positive finite number, or None for no cap; got {cap!r}")
        for field in ("max_mentions_per_document", "max_entity_pairs_per_document", "max_relations_per_document"):
            value = getattr(self, field)
            if value is not None and (not _is_integer(value) or value < 1):
                fail(field, f"must be None or a positive integer, got {value!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            fail("dropout", f"must be in [0, 1), got {self.dropout!r}")
        for field in ("mention_loss_weight", "coref_loss_weight", "entity_loss_weight", "relation_loss_weight"):
            value = getattr(self, field)
            if not _is_number(value) or value < 0:
                fail(field, f"must be a non-negative finite number, got {value!r}")
        min_length = self.mention_string_propagation_min_length
        if not _is_integer(min_length) or min_length < 1:
            fail("mention_string_propagation_min_length", f"must be a positive integer, got {min_length!r}")
        if not _is_number(self.initializer_range) or self.initializer_range <= 0:
            fail("initializer_range", f"must be a positive finite number, got {self.initializer_range!r}")
        self._check_token_ids(fail)
        for field in ("non_initial_words", "non_final_words"):
            words = getattr(self, field)
            if not isinstance(words, list) or not all(isinstance(w, str) and w and w == w.lower() for w in words):
                fail(field, "must be a list of non-empty lower-cased words")
        self._check_relation_argument_types(fail)
        self._check_coreference_lexicon(fail)
        if self.coreference_linkage not in COREFERENCE_LINKAGES:
            fail("coreference_linkage", f"must be one of {COREFERENCE_LINKAGES}, got {self.coreference_linkage!r}")
        if self.relation_classifier not in RELATION_CLASSIFIERS:
            fail("relation_classifier", f"must be one of {RELATION_CLASSIFIERS}, got {self.relation_classifier!r}")
        if self.classifier_type not in CLASSIFIER_TYPES:
            fail("classifier_type", f"must be one of {CLASSIFIER_TYPES}, got {self.classifier_type!r}")
        unknown = [p for p in self.memory_read_positions if p not in MEMORY_READ_POSITIONS]
        if unknown:
            fail("memory_read_positions", f"unknown positions {unknown}; allowed: {MEMORY_READ_POSITIONS}")
        if self.memory_read_mode not in MEMORY_READ_MODES:
            fail("memory_read_mode", f"must be one of {MEMORY_READ_MODES}, got {self.memory_read_mode!r}")
        if self.memory_read_temperature not in MEMORY_READ_TEMPERATURES:
            fail(
                "memory_read_temperature",
                f"must be one of {MEMORY_READ_TEMPERATURES}, got {self.memory_read_temperature!r}",
            )
        if self.jerex_baseline and (
            self.classifier_type != "mlp" or self.use_entity_memory or self.use_relation_memory
        ):
            fail(
                "jerex_baseline",
                "the baseline has classifier_type='mlp' and no memories, got classifier_type="
                f"{self.classifier_type!r}, use_entity_memory={self.use_entity_memory}, use_relation_memory="
                f"{self.use_relation_memory}; leave those unset, or set jerex_baseline=False",
            )
        if self.classifier_type == "mlp" and (self.use_entity_memory or self.use_relation_memory):
            fail(
                "classifier_type",
                "'mlp' classifiers have no memory matrices to read; set use_entity_memory=use_relation_memory=False "
                "(or jerex_baseline=True)",
            )
        for field in ("entity_memory_slot_size", "relation_memory_slot_size", "encoder_window_size"):
            value = getattr(self, field)
            if value is not None and (not _is_integer(value) or value < 1):
                fail(field, f"must be None or a positive integer, got {value!r}")
        window = self.encoder_window_size
        # A longer window failed inside the encoder's position embeddings at the first long document; DeBERTa-style
        # encoders without absolute positions (position_biased_input false) take any length.
        if window and self.encoder_config and self.encoder_config.get("position_biased_input", True):
            if window > self.encoder_window_limit:
                fail(
                    "encoder_window_size",
                    f"{window} exceeds the {self.encoder_window_limit} subwords that the encoder's position table "
                    "holds besides [CLS]/[SEP]; set it at most that, or None",
                )
        overlap = self.encoder_window_overlap
        if overlap is not None and (not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0):
            fail("encoder_window_overlap", f"must be None or a non-negative integer, got {overlap!r}")
        if self.encoder_config and self.window_overlap >= self.window_size:
            fail("encoder_window_overlap", f"must be smaller than the window size {self.window_size}")


def _refuse_misspelled_arguments(kwargs) -> None:
    """A TypeError for a keyword argument that is not one of SimMemREConfig's but is close to one
    (`memroy_read_mode`): PretrainedConfig keeps unknown keywords as attributes, so the typo changed nothing, silently.
    Other unknown keywords stay allowed (transformers' own, and attributes users add)."""
    for name in kwargs:
        if name in _PRETRAINED_CONFIG_ARGUMENTS or name.endswith("_token_id") or name.startswith("_"):
            continue
        close = difflib.get_close_matches(name, _SETTING_NAMES, n=1, cutoff=0.8)
        if close:
            raise TypeError(f"SimMemREConfig got an unexpected keyword argument {name!r}; did you mean {close[0]!r}?")


_PRETRAINED_CONFIG_ARGUMENTS = frozenset(inspect.signature(PretrainedConfig.__init__).parameters)
_SETTING_NAMES = list(inspect.signature(SimMemREConfig.__init__).parameters)[1:-1]  # (without self and **kwargs)
