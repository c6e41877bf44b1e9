"""The pinned ML stack works together: TensorFlow Probability mixtures are differentiable."""

import numpy as np


def test_gradient_through_mixture_same_family():
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    logits = tf.Variable([0.0, 0.0])
    loc = tf.Variable([0.2, 0.8])
    x = tf.constant([0.1, 0.5, 0.9])
    with tf.GradientTape() as tape:
        mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=logits), tfd.Normal(loc, 0.1))
        loss = -tf.reduce_sum(mixture.log_prob(x))
    g_logits, g_loc = tape.gradient(loss, [logits, loc])
    # symmetric data and components: the logits' gradient vanishes and descent pulls both means towards 0.5
    np.testing.assert_allclose(g_logits.numpy(), [0.0, 0.0], atol=1e-5)
    assert g_loc.numpy()[0] == -g_loc.numpy()[1] and g_loc.numpy()[1] > 0
