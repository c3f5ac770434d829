// An app's side of on-device learning with a trainable keras_airn model
// (`python -m convert.tflite --trainable --waveform`): enrol the user's clips, classify, save
// and restore the learned head. Only the model's own signatures are called, as
// `keras_airn.inference.personalise` calls them on a host; the signature, input and output names here are
// checked against an exported model by tests/test_personalise.py. Compiled and run on no phone here.
// This is the head-only model (the default). A model exported with `--adapt_stages N` calls the
// same signatures with two differences, not written out here: `embedding` is a feature map
// (1, rows, columns, channels) instead of a vector, and `get_weights` / `set_weights` carry one more
// array, `tail` (the adapted layers as one float vector), which `save` and `restore` keep beside `w`.
//
// Gradle: implementation("com.google.ai.edge.litert:litert:1.+") (or org.tensorflow:tensorflow-lite).
package io.keras_airn.inference.personalise

import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.ZipFile
import org.json.JSONObject
import org.tensorflow.lite.Interpreter

class Personaliser(model: ByteBuffer, private val maxClasses: Int, private val embeddingSize: Int) {
    private val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(1))

    /** One window of mono float PCM at the model's rate (its input length), padded with NaN. */
    fun infer(window: FloatArray): Pair<FloatArray, FloatArray> {
        val logits = Array(1) { FloatArray(maxClasses) }
        val embedding = Array(1) { FloatArray(embeddingSize) }
        interpreter.runSignature(
            mapOf("waveform" to arrayOf(window)),
            mapOf("logits" to logits, "embedding" to embedding),
            "infer",
        )
        return Pair(logits[0], embedding[0])
    }

    /** One optimizer step on a batch of embeddings (from `infer`) and their slots. */
    fun trainStep(embeddings: Array<FloatArray>, slots: IntArray): Float {
        val labels = Array(slots.size) { row -> FloatArray(maxClasses).also { it[slots[row]] = 1f } }
        val loss = FloatArray(1)
        interpreter.runSignature(
            mapOf("embedding" to embeddings, "label" to labels),
            mapOf("loss" to loss),
            "train",
        )
        return loss[0]
    }

    /**
     * Enrols windows: `epochs` shuffled passes of batches of 8 (what edge.personalise does). The
     * replay rows (`readReplay`) of classes in use (`slotLabels`: the label of each slot) that
     * the user's windows leave out are mixed in, so that enrolling one new sound keeps the others.
     */
    fun enroll(
        userEmbeddings: List<FloatArray>, userSlots: List<Int>, replay: Pair<List<FloatArray>, List<String>>,
        slotLabels: List<String>, epochs: Int = 20, batchSize: Int = 8,
    ) {
        val replayRows = replay.second.indices.filter { row ->
            val slot = slotLabels.indexOf(replay.second[row])
            slot >= 0 && slot !in userSlots
        }
        val embeddings = userEmbeddings + replayRows.map { replay.first[it] }
        val slots = userSlots + replayRows.map { slotLabels.indexOf(replay.second[it]) }
        val order = embeddings.indices.toMutableList()
        repeat(epochs) {
            order.shuffle()
            order.chunked(batchSize).forEach { batch ->
                trainStep(Array(batch.size) { embeddings[batch[it]] }, IntArray(batch.size) { slots[batch[it]] })
            }
        }
    }

    /** The head as it is now; `restoreShipped` first puts the shipped head back. */
    fun head(restoreShipped: Boolean = false): Map<String, Any> {
        val w = Array(embeddingSize) { FloatArray(maxClasses) }
        val b = FloatArray(maxClasses)
        val mask = FloatArray(maxClasses)
        interpreter.runSignature(
            mapOf("restore_shipped" to floatArrayOf(if (restoreShipped) 1f else 0f)),
            mapOf("w" to w, "b" to b, "mask" to mask),
            "get_weights",
        )
        return mapOf("w" to w, "b" to b, "mask" to mask)
    }

    /** Saves the head (and the app's slot labels) to a file of the app's own. */
    fun save(file: File, labels: List<String>) {
        val head = head()
        DataOutputStream(file.outputStream().buffered()).use { out ->
            (head["w"] as Array<FloatArray>).forEach { row -> row.forEach(out::writeFloat) }
            (head["b"] as FloatArray).forEach(out::writeFloat)
            (head["mask"] as FloatArray).forEach(out::writeFloat)
            labels.forEach(out::writeUTF)
        }
    }

    /** Restores a head that `save` wrote for this model; returns its slot labels. */
    fun restore(file: File): List<String> {
        DataInputStream(file.inputStream().buffered()).use { input ->
            val w = Array(embeddingSize) { FloatArray(maxClasses) { input.readFloat() } }
            val b = FloatArray(maxClasses) { input.readFloat() }
            val mask = FloatArray(maxClasses) { input.readFloat() }
            val labels = List(maxClasses) { input.readUTF() }
            interpreter.runSignature(mapOf("w" to w, "b" to b, "mask" to mask), mapOf("mask" to FloatArray(maxClasses)),
                "set_weights")
            return labels
        }
    }

    fun close() = interpreter.close()

    /** The replay set the model file carries (embeddings, label of each); empty if it has none. */
    fun readReplay(modelPath: String): Pair<List<FloatArray>, List<String>> {
        ZipFile(modelPath).use { zip ->  // the files appended after the flatbuffer
            val text = zip.getInputStream(zip.getEntry("keras_airn_trainable.json")).readBytes().decodeToString()
            val replay = JSONObject(text).optJSONObject("replay") ?: return Pair(emptyList(), emptyList())
            val labels = replay.getJSONArray("labels").let { array -> List(array.length()) { array.getString(it) } }
            val floats = ByteBuffer.wrap(zip.getInputStream(zip.getEntry(replay.getString("file"))).readBytes())
                .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
            return Pair(List(labels.size) { FloatArray(embeddingSize).also { row -> floats.get(row) } }, labels)
        }
    }

    companion object {
        fun load(path: String): ByteBuffer {
            val bytes = File(path).readBytes()
            return ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).apply { put(bytes); rewind() }
        }
    }
}
