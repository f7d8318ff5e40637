"""The VRNN (Chung et al. 2015) and its two ablations in PyTorch, written from the
equations of models.md section 4: the independent reference the C runtime's vrnn
family is checked against (docs/format.md section 8 for the manifest).

For each step t, with h_0 = 0:
  prior     [mu0_t, s0_t] = phi_prior(h_{t-1})                  (VRNN-I: N(0, I))
  encoder   [mu_t, s_t]   = phi_enc([phi_x(x_t), h_{t-1}]);  z_t = mu_t + s_t * eps_t
  decoder   logits_t      = phi_dec([phi_z(z_t), h_{t-1}])      (RNN: phi_dec(h_{t-1}))
  recurrence h_t          = cell([phi_x(x_t), phi_z(z_t)], h_{t-1})   (RNN: cell(phi_x(x_t), h))
Standard deviations are softplus(.) + std_floor. Bernoulli frames from the logits,
or Gaussian frames N(mean, (softplus(std) + std_floor)^2) from decoder heads mean, std.
The bound per sequence is sum_t [log p(x_t | .) - KL(q(z_t) || p(z_t | h_{t-1}))]
over the sequence's own steps (steps past its length count nothing); the IW
estimate runs k particles, each with its own h.

`VariaVRNN` is an nn.Module whose state_dict() keys are the format's names:
  phi_x.hidden.i.{weight,bias}, phi_x.out.{weight,bias}     (every layer with the activation)
  phi_z.hidden.i, phi_z.out                                  (not in the RNN)
  prior.hidden.i, prior.mean, prior.std                      (VRNN only)
  encoder.hidden.i, encoder.mean, encoder.std                (not in the RNN)
  decoder.hidden.i, decoder.logits                           (Gaussian: decoder.mean, decoder.std;
                                                              mixture of K: decoder.mean, .std [K*F], .weights [K])
  rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh     (nn.GRUCell r,z,n / nn.LSTMCell i,f,g,o)

Noise per step: L normals for z_t, then F for x_t's draw in generation (a
mixture: 1 + F, the first choosing the component)
(x_t = 1 where Phi(e) < sigmoid(logits); Gaussian: x_t = mean + sigma * e, the
temperature scaling z's noise only); step t's block at columns t*(L+F).
decode(z) runs the generative recurrence from given latents with x_t's mean
(sigmoid(logits_t), or the Gaussian's mean) fed back (the mean path). Everything runs in the module's dtype.
"""
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence
import torch.nn.functional as F

ACTS = {"relu": torch.relu, "tanh": torch.tanh, "elu": F.elu, "softplus": F.softplus,
        "sigmoid": torch.sigmoid, "identity": lambda v: v}


class Net(nn.Module):
    """Hidden layers, then heads (names given), e.g. ("mean", "std") or ("out",)."""

    def __init__(self, d_in, widths, heads, d_out):
        super().__init__()
        dims = [d_in] + list(widths)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.heads = heads
        for name in heads:
            setattr(self, name, nn.Linear(dims[-1], d_out))

    def body(self, x, act):
        for lin in self.hidden:
            x = act(lin(x))
        return x


class VariaVRNN(nn.Module):
    def __init__(self, arch, frame):
        super().__init__()
        self.variant = arch.get("variant", "vrnn")
        self.act = ACTS[arch.get("activation", "relu")]
        self.floor = arch.get("std_floor", 1e-4)
        self.F, self.H = frame, arch["hidden"]
        self.L = 0 if self.variant == "rnn" else arch["latent"]
        px = arch["phi_x"]
        self.phi_x = Net(self.F, px[:-1], ("out",), px[-1])
        fx, fz = px[-1], 0
        if self.variant != "rnn":
            pz = arch["phi_z"]
            fz = pz[-1]
            self.phi_z = Net(self.L, pz[:-1], ("out",), fz)
        if self.variant == "vrnn":
            self.prior = Net(self.H, arch["prior"], ("mean", "std"), self.L)
        if self.variant != "rnn":
            self.encoder = Net(fx + self.H, arch["encoder"], ("mean", "std"), self.L)
        lik = arch["likelihood"]
        self.gauss_frames = lik["type"] in ("gaussian", "gaussian_mixture")
        self.K = lik.get("components", 0) if lik["type"] == "gaussian_mixture" else 0
        per = self.K if self.K else 1
        self.decoder = Net(fz + self.H, arch["decoder"], ("mean", "std") if self.gauss_frames else ("logits",),
                           per * self.F)
        if self.K:
            widths = arch["decoder"]
            self.decoder.weights = nn.Linear(widths[-1] if widths else fz + self.H, self.K)
        cell = nn.GRUCell if arch["cell"] == "gru" else nn.LSTMCell
        self.rnn = cell(fx + fz, self.H)
        self.lstm = arch["cell"] == "lstm"

    # ---- parts ----
    def feature(self, net, x):
        return self.act(net.out(net.body(x, self.act)))

    def gauss(self, net, inp):
        h = net.body(inp, self.act)
        return net.mean(h), F.softplus(net.std(h)) + self.floor

    def prior_dist(self, h):
        if self.variant == "vrnn_i":
            zero = torch.zeros(h.shape[0], self.L, dtype=h.dtype)
            return Normal(zero, torch.ones_like(zero))
        return Normal(*self.gauss(self.prior, h))

    def logits(self, fz, h):
        """Bernoulli: the logits; Gaussian: (mean, standard deviation)."""
        inp = h if fz is None else torch.cat([fz, h], 1)
        if self.K:  # (weights' logits, means [rows, K, F], deviations [rows, K, F])
            h = self.decoder.body(inp, self.act)
            sd = F.softplus(self.decoder.std(h)) + self.floor
            return (self.decoder.weights(h), self.decoder.mean(h).reshape(-1, self.K, self.F),
                    sd.reshape(-1, self.K, self.F))
        if self.gauss_frames:
            return self.gauss(self.decoder, inp)
        return self.decoder.logits(self.decoder.body(inp, self.act))

    def mixture(self, out):
        w, mu, sd = out
        return MixtureSameFamily(Categorical(logits=w), Independent(Normal(mu, sd), 1))

    def frame_logp(self, out, x):
        if self.K:
            return self.mixture(out).log_prob(x)
        if self.gauss_frames:
            return Normal(*out).log_prob(x).sum(1)
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)

    def step_state(self, fx, fz, state):
        inp = fx if fz is None else torch.cat([fx, fz], 1)
        if self.lstm:
            return self.rnn(inp, state)
        return self.rnn(inp, state)

    def h_of(self, state):
        return state[0] if self.lstm else state

    def zero_state(self, rows, dtype):
        h = torch.zeros(rows, self.H, dtype=dtype)
        return (h, h.clone()) if self.lstm else h

    # ---- passes ----
    def terms(self, x, lengths, eps):
        """x [rows, T, F], lengths [rows], eps [rows, T, L + F] (one row per particle):
        per row log p(x|z), log p(z), log q(z|x) summed over its own steps, and the
        analytic KL of every step [rows, T] (0 past the length)."""
        rows, T = x.shape[0], x.shape[1]
        state = self.zero_state(rows, x.dtype)
        lpx = torch.zeros(rows, dtype=x.dtype)
        lpz, lqz, kl = lpx.clone(), lpx.clone(), torch.zeros(rows, T, dtype=x.dtype)
        for t in range(T):
            keep = (t < lengths).to(x.dtype)
            h = self.h_of(state)
            fx = self.feature(self.phi_x, x[:, t])
            fz = None
            if self.variant != "rnn":
                q = Normal(*self.gauss(self.encoder, torch.cat([fx, h], 1)))
                p = self.prior_dist(h)
                z = q.mean + q.stddev * eps[:, t, :self.L]
                lqz = lqz + keep * q.log_prob(z).sum(1)
                lpz = lpz + keep * p.log_prob(z).sum(1)
                kl[:, t] = keep * kl_divergence(q, p).sum(1)
                fz = self.feature(self.phi_z, z)
            lx = self.frame_logp(self.logits(fz, h), x[:, t])
            lpx = lpx + keep * lx
            state = self.step_state(fx, fz, state)
        return {"log_px": lpx, "log_pz": lpz, "log_qz": lqz, "kl_steps": kl}

    def encode(self, x):
        """The mean path: z_t at the posterior mean; means and log-variances [rows, T, L]."""
        rows, T = x.shape[0], x.shape[1]
        state, mus, lvs = self.zero_state(rows, x.dtype), [], []
        for t in range(T):
            h = self.h_of(state)
            fx = self.feature(self.phi_x, x[:, t])
            mu, s = self.gauss(self.encoder, torch.cat([fx, h], 1))
            mus.append(mu)
            lvs.append(2.0 * torch.log(s))
            state = self.step_state(fx, self.feature(self.phi_z, mu), state)
        return torch.stack(mus, 1), torch.stack(lvs, 1)

    def decode(self, z, T):
        """From latents z [rows, T, L] (unused by the RNN): E[x_t] and the logits (Gaussian:
        the log-variances) [rows, T, F]."""
        rows = z.shape[0]
        state, means, logits = self.zero_state(rows, z.dtype), [], []
        for t in range(T):
            h = self.h_of(state)
            fz = None if self.variant == "rnn" else self.feature(self.phi_z, z[:, t])
            out = self.logits(fz, h)
            if self.K:  # the mixture's mean and the log of its variance
                mix = self.mixture(out)
                xm, params = mix.mean, torch.log(mix.variance)
            else:
                xm = out[0] if self.gauss_frames else torch.sigmoid(out)
                params = 2.0 * torch.log(out[1]) if self.gauss_frames else out
            means.append(xm)
            logits.append(params)
            state = self.step_state(self.feature(self.phi_x, xm), fz, state)
        return torch.stack(means, 1), torch.stack(logits, 1)

    def generate(self, eps, temp):
        """eps [rows, T, L + F]: z_t from the prior (noise scaled by temp), x_t drawn."""
        rows, T = eps.shape[0], eps.shape[1]
        state, xs, zs = self.zero_state(rows, eps.dtype), [], []
        for t in range(T):
            h = self.h_of(state)
            fz = None
            if self.variant != "rnn":
                p = self.prior_dist(h)
                z = p.mean + temp * p.stddev * eps[:, t, :self.L]
                zs.append(z)
                fz = self.feature(self.phi_z, z)
            out = self.logits(fz, h)
            if self.K:  # the component whose cumulative-weight interval holds Phi(e_0), then its Gaussian
                w, mu, sd = out
                u = torch.special.ndtr(eps[:, t, self.L])
                cum = torch.cumsum(torch.softmax(w, 1), 1)
                j = torch.clamp((cum <= u[:, None]).sum(1), max=self.K - 1)
                rows_ = torch.arange(w.shape[0])
                x = mu[rows_, j] + sd[rows_, j] * eps[:, t, self.L + 1:]
            elif self.gauss_frames:
                x = out[0] + out[1] * eps[:, t, self.L:]
            else:
                x = (torch.special.ndtr(eps[:, t, self.L:]) < torch.sigmoid(out)).to(eps.dtype)
            xs.append(x)
            state = self.step_state(self.feature(self.phi_x, x), fz, state)
        z = torch.stack(zs, 1) if zs else torch.zeros(rows, T, 0, dtype=eps.dtype)
        return torch.stack(xs, 1), z
